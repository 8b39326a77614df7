"""Imported by the nightly run's fork server as it starts, so that it dies with the run.

The local executor's workers come from a multiprocessing fork server, and
each worker dies with its parent (`lifetime.die_with_parent`), which is the
fork server, not the run. The fork server itself would outlive a killed run:
it waits for its last client to go, and every worker holds a copy of the
pipe it waits on. So after a SIGKILL of the run the fork server and its
workers kept each other alive, converting for nobody. The fork server runs
no code of ours except the modules it is told to import first; this is one
of them, and its import is the request to the kernel.
"""

from __future__ import annotations

from noarkpipe._exec.lifetime import die_with_parent

die_with_parent()
