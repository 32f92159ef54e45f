"""What the program keeps for good: objects that live until exit, moved out of the cyclic
garbage collector's sight."""

from __future__ import annotations

import gc

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
