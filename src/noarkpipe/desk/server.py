"""The desk served by uvicorn: one process, one event loop, the work in its thread pool.

Bound to loopback by default (`[desk] host`). uvicorn's own access log is
off (a request line names journal numbers, which are not screened, but the
desk has nothing to say per request); errors go to stderr through logging.
The server stops cleanly on SIGINT and SIGTERM (systemd's stop), with exit status 0.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
from collections.abc import Callable, Iterator

import uvicorn

from noarkpipe.config import Settings
from noarkpipe.desk.app import create_app
from noarkpipe.errors import ConfigError


def serve(settings: Settings, *, host: str | None = None, port: int | None = None,
          announce: Callable[[str], None] | None = None) -> None:
    host = host or settings.desk.host
    port = port or settings.desk.port
    _require_free(host, port)
    config = uvicorn.Config(
        create_app(settings), host=host, port=port, log_level="warning", access_log=False,
        server_header=False, proxy_headers=False, lifespan="on",
    )
    shown = f"[{host}]" if ":" in host else host
    (announce or (lambda text: print(text, file=sys.stderr)))(
        f"noarkpipe desk: http://{shown}:{port}/ (Ctrl-C stops)"
    )
    _Server(config).run()


def _require_free(host: str, port: int) -> None:
    """A ConfigError naming the address when it cannot be listened on (in use, or not this host's)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(found[0][0], socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind(found[0][4])
    except OSError as exc:
        raise ConfigError(
            f"the desk cannot listen on {host} port {port}: {exc.strerror or exc}",
            hint="another program (or another desk) may use that port: choose one with --port or [desk] port",
        ) from exc


class _Server(uvicorn.Server):
    """uvicorn's server, ending with exit status 0 on SIGINT and SIGTERM instead of dying of the signal again."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {number: signal.signal(number, self.handle_exit) for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
