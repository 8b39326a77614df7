"""A real SMTP server for tests (aiosmtpd), in its own process, on loopback.

Run as a program it serves until killed and writes every accepted message to
`<spool>/<n>.eml`, with the envelope in `<n>.json` beside it. With a
certificate it offers STARTTLS and requires it before AUTH; with a user it
requires AUTH (PLAIN/LOGIN) before MAIL. Tests use `start_smtp()`, which
waits until the server answers and returns a handle to stop it.

    python smtpserver.py --port 2525 --spool DIR [--cert C --key K] [--user U --password P]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

STARTUP_TIMEOUT_S = 20


@dataclass
class SmtpServer:
    port: int
    spool: Path
    process: subprocess.Popen

    def messages(self) -> list[tuple[dict, EmailMessage]]:
        """(envelope, message) of every message received so far, in order."""
        found = []
        for path in sorted(self.spool.glob("*.eml"), key=lambda p: int(p.stem)):
            envelope = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
            found.append((envelope, message_from_bytes(path.read_bytes(), policy=policy.default)))
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_smtp(
    spool: Path, *, cert: Path | None = None, key: Path | None = None, user: str | None = None,
    password: str | None = None,
) -> SmtpServer:
    spool.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [sys.executable, __file__, "--port", str(port), "--spool", str(spool)]
    if cert and key:
        command += ["--cert", str(cert), "--key", str(key)]
    if user:
        command += ["--user", user, "--password", password or ""]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the SMTP server exited at start:\n{process.stdout.read().decode(errors='replace')}")
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                banner = probe.recv(200)
                if banner.startswith(b"220"):
                    return SmtpServer(port=port, spool=spool, process=process)
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"the SMTP server did not answer within {STARTUP_TIMEOUT_S} s")


class _SpoolHandler:
    def __init__(self, spool: Path) -> None:
        self.spool = spool
        self.lock = threading.Lock()
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            number = self.count
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "login": session.auth_data.decode() if isinstance(session.auth_data, bytes) else None,
        }
        for suffix, data in ((".json", json.dumps(record).encode()), (".eml", envelope.original_content)):
            fd, temporary = tempfile.mkstemp(dir=self.spool)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temporary, self.spool / f"{number}{suffix}")
        return "250 Message accepted for delivery"


def main() -> None:
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--spool", type=Path, required=True)
    parser.add_argument("--cert", type=Path)
    parser.add_argument("--key", type=Path)
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()

    options = {}
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        options.update(tls_context=context, require_starttls=True, auth_require_tls=True)
    else:
        options.update(auth_require_tls=False)
    if args.user:

        def authenticator(_server, _session, _envelope, _mechanism, data):
            ok = isinstance(data, LoginPassword) and (
                data.login.decode() == args.user and data.password.decode("utf-8") == args.password
            )
            return AuthResult(success=ok, handled=False, auth_data=data.login if ok else None)

        options.update(authenticator=authenticator, auth_required=True)
    controller = Controller(_SpoolHandler(args.spool), hostname="127.0.0.1", port=args.port, **options)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
