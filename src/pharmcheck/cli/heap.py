"""What the program keeps for good: objects that live until exit, moved out of the cyclic
garbage collector's sight; and, for a check, an end without tearing them all down."""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
import threading

# Whether main() runs as the program (its arguments from sys.argv), not called by other code.
as_program = False


def keep_for_good() -> None:
    """Move every object now alive out of the cyclic collector's sight (gc.freeze), when
    pharmcheck runs as the program: the modules, the parser and the loaded rules (~10^5
    objects) live until exit, and the first collections after their load scanned them all
    (~15 ms after the imports, ~30 ms after the rules load of a `check`). Not when main() is
    called by other code (tests): garbage of theirs alive at that moment would be kept too."""
    if as_program:
        gc.freeze()


def end_without_teardown(code: int) -> None:
    """End the program now with `code`, skipping Python's teardown of every module and
    object (~20 ms after a check, as much as fetching a page from a capture): what is
    written is flushed and the atexit handlers run (logging, temporary folders), as at a
    normal exit. Only when pharmcheck runs as the program and no thread but daemon threads
    is alive besides this one (none is left to join); otherwise this returns and the caller
    exits as usual. For commands that close every file they write (check: the report,
    --save-warc; audit: the output and the store).

    Daemon threads still at work are ended with the process, as at a normal exit, but at
    once: the teardown would stop each one when it next asks for the GIL, and one coming
    back from native code that had let go of it (an RE2 search, through pybind11) is then
    unwound through a C++ destructor that may not throw, which aborts the whole process
    (SIGABRT, "terminate called without an active exception") instead of exiting with `code`:
    what an audit interrupted with sites in flight did, now and then."""
    if not as_program or any(not t.daemon for t in threading.enumerate() if t is not threading.current_thread()):
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # A reader that went away, a stream closed: nothing is left to write there.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
