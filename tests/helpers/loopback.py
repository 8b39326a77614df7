"""Witnesses for "nothing fetched, nothing outside read": a loopback HTTP listener and an inotify watch.

A test that promises no network points the documents it feeds noarkpipe at a
`Listener` and asserts it saw nothing; a control in the same test shows the
listener would have seen a fetch. An `OpenWatch` on a folder outside the data
directory records every open or read of a file in it (Linux inotify, through
libc: no package needed).
"""

from __future__ import annotations

import ctypes
import os
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

FETCHED = b"\x89PNG\r\n\x1a\n fetched"
"""What the listener answers by default: enough of a PNG that a fetcher takes it and a fetch shows."""


class Listener:
    """HTTP on 127.0.0.1 at a random port, answering any method; records every connection and request.

    A connection is recorded before any request is read, so a client that
    connects and sends nothing is seen too. `requests` holds (method, path).
    """

    def __init__(self, body: bytes = FETCHED, content_type: str = "image/png") -> None:
        self.connections: list[tuple[str, int]] = []
        self.requests: list[tuple[str, str]] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def parse_request(self) -> bool:
                parsed = super().parse_request()
                if parsed:
                    listener.requests.append((self.command, self.path))
                return parsed

            def _answer(self) -> None:  # like a real server, so that a fetch would succeed and show
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_POST = do_PUT = do_OPTIONS = do_PROPFIND = _answer

            def log_message(self, *_args) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def verify_request(self, request, client_address) -> bool:
                listener.connections.append(client_address)
                return True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def seen(self) -> tuple[int, list[tuple[str, str]]]:
        """(connections, requests) so far; a request on its way is counted before the listener is asked."""
        time.sleep(0.2)
        return len(self.connections), list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


IN_ACCESS, IN_MODIFY, IN_OPEN = 0x1, 0x2, 0x20


class OpenWatch:
    """Every open, read or write of a file in `folder` (and of the folder itself) while the watch is on."""

    def __init__(self, folder: Path) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if self.libc.inotify_add_watch(self.fd, os.fsencode(folder), IN_OPEN | IN_ACCESS | IN_MODIFY) < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {folder}")

    def events(self) -> list[tuple[int, str]]:
        """Drain the queue; (mask, name) per event, name empty for the folder itself."""
        seen = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return seen
            offset = 0
            while offset < len(data):
                _, mask, _, length = struct.unpack_from("iIII", data, offset)
                name = data[offset + 16 : offset + 16 + length].rstrip(b"\0").decode("utf-8", "replace")
                seen.append((mask, name))
                offset += 16 + length

    def close(self) -> None:
        os.close(self.fd)
