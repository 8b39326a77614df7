"""Child processes that do not outlive the process that started them.

A worker of the nightly run, or the child a worker starts for OCRmyPDF,
works for its parent only: if the parent is killed (SIGKILL from an
operator, the out-of-memory killer, a power-cut test), the child must not
go on converting for nobody, holding memory and files in the work area.
Linux can deliver a signal to a process when its parent dies
(PR_SET_PDEATHSIG); elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Have the kernel kill this process (SIGKILL) when its parent process ends."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    # The parent may have ended before the request was made: then nothing would come.
    if os.getppid() != parent:
        os._exit(1)
