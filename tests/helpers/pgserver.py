"""A real PostgreSQL server for tests: its own cluster in a temp folder, loopback TCP only.

`initdb` and `postgres` come from the Debian package (/usr/lib/postgresql/<n>/bin,
not on PATH). PostgreSQL refuses to run as root, so when the tests run as root
(CI may) the cluster belongs to the `postgres` account the package creates (or
`nobody`) and the programs run as that user; otherwise everything runs as the
current user. The server listens on 127.0.0.1 at a free port with password
(SCRAM) authentication and keeps its Unix socket inside its own folder, so it
never meets the packaged cluster on port 5432. Durability settings are off:
the tests check locking and numbering, not crash safety of the server.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

STARTUP_TIMEOUT_S = 30
SUPERUSER = "noarkpipe"
# Characters a real password has and a URL must escape.
PASSWORD = "hemmelig/æøå@pg:1"


def postgres_bindir() -> Path | None:
    """The newest PostgreSQL server binaries on this machine, or None."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    return next((d for d in candidates if (d / "initdb").is_file() and (d / "postgres").is_file()), None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run_as() -> str | None:
    """The account the server runs as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' account exists")


@dataclass
class PostgresServer:
    root: Path
    port: int
    bindir: Path
    process: subprocess.Popen | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else "(no log)"

    def url(self, database: str = "postgres", *, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{SUPERUSER}:{quote(PASSWORD, safe='')}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres"):
        import psycopg

        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, password=PASSWORD,
            dbname=database, autocommit=True, connect_timeout=5,
        )

    def create_database(self, name: str) -> str:
        """A fresh, empty database; returns its SQLAlchemy URL."""
        with self.connect() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self.connect() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)  # "fast" shutdown: disconnect clients, stop
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def start_postgres() -> PostgresServer:
    """Create a cluster and start its server; the caller must `stop()` it and remove `root`."""
    bindir = postgres_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    user = _run_as()
    root = Path(tempfile.mkdtemp(prefix="noarkpipe-postgres-"))
    server = PostgresServer(root=root, port=free_port(), bindir=bindir)
    (root / "socket").mkdir()
    password_file = root / "pwfile"
    password_file.write_text(PASSWORD + "\n", encoding="utf-8")
    if user is not None:
        account = pwd.getpwnam(user)
        for path in (root, root / "socket", password_file):
            os.chown(path, account.pw_uid, account.pw_gid)
    root.chmod(0o700)
    password_file.chmod(0o600)
    initdb = subprocess.run(
        [
            str(bindir / "initdb"), "-D", str(server.data_dir), "-U", SUPERUSER,
            f"--pwfile={password_file}", "--auth=scram-sha-256", "-E", "UTF8", "--no-locale",
            "--no-sync", "--no-instructions",
        ],
        capture_output=True, text=True, user=user, cwd=root,
    )
    if initdb.returncode != 0:
        raise RuntimeError(f"initdb failed ({initdb.returncode}):\n{initdb.stdout}\n{initdb.stderr}")
    password_file.unlink()
    log = open(server.log_file, "ab")  # noqa: SIM115 - the server writes to it for its whole life
    if user is not None:
        os.chown(server.log_file, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    server.process = subprocess.Popen(
        [
            str(bindir / "postgres"), "-D", str(server.data_dir), "-p", str(server.port),
            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={root / 'socket'}",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=60", "-c", "shared_buffers=32MB",
        ],
        stdout=log, stderr=subprocess.STDOUT, user=user, cwd=root, start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last_error = ""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"postgres exited at start ({server.process.returncode}):\n{server.log()}")
        try:
            with server.connect() as connection:
                version = connection.execute("SHOW server_version").fetchone()[0]
            if re.match(r"\d+", version):
                return server
        except Exception as exc:  # not accepting connections yet
            last_error = str(exc)
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(
        f"postgres did not accept connections within {STARTUP_TIMEOUT_S} s: {last_error}\n{server.log()}"
    )
