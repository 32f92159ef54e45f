"""What every process an audit starts (worker and analysis processes) does first."""

from __future__ import annotations

import os
import signal
import threading
import time


def child_of_the_audit(parent: int) -> None:
    """Make this process one of the audit's (a worker or an analysis process): Ctrl-C reaches
    the whole process group, and the audit (`parent`) decides what to do with it; an audit
    killed with SIGKILL cannot stop us, so we exit once it is gone rather than work for nobody."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def orphan_watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=orphan_watch, daemon=True).start()
