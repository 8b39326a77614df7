"""A real Dovecot IMAP server for tests: loopback only, its own config, certificate and users.

The server runs in the foreground (`dovecot -F -c <conf>`) as a child of the
test process, in a private folder outside pytest's root-only tmp folders
because Dovecot's unprivileged helper processes must reach it. When the
tests run as root, mail is owned by `nobody` and Dovecot's own processes run
as the `dovecot`/`dovenull` accounts the Debian package creates; as an
ordinary user everything runs as that user, without chroot (Dovecot's
"rootless" setup).
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

STARTUP_TIMEOUT_S = 15


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.access(p, os.X_OK)), None
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, which is also its own CA file."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@dataclass
class Dovecot:
    root: Path
    imap_port: int
    imaps_port: int
    cafile: Path
    process: subprocess.Popen | None = None
    users: dict[str, str] = field(default_factory=dict)

    @property
    def passwd_file(self) -> Path:
        return self.root / "users"

    @property
    def log_file(self) -> Path:
        return self.root / "dovecot.log"

    def maildir(self, user: str) -> Path:
        return self.root / "mail" / user

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else "(no log)"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # the master process stops its own children
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _accounts() -> tuple[dict[str, str], int, int]:
    """Settings naming the accounts Dovecot's processes and the mail run as, and the mail uid/gid."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        accounts = {
            "default_internal_user": me.pw_name,
            "default_internal_group": grp.getgrgid(me.pw_gid).gr_name,
            "default_login_user": me.pw_name,
        }
        return accounts, me.pw_uid, me.pw_gid
    nobody = pwd.getpwnam("nobody")
    internal = "dovecot" if _user_exists("dovecot") else "nobody"
    login = "dovenull" if _user_exists("dovenull") else "nobody"
    return {"default_internal_user": internal, "default_login_user": login}, nobody.pw_uid, nobody.pw_gid


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _oauth2_file(server: Dovecot, introspection_url: str) -> Path:
    """Dovecot's oauth2 passdb settings: each token is POSTed to `introspection_url`, which names its user."""
    path = server.root / "oauth2.conf"
    path.write_text(
        "introspection_mode = post\n"
        f"introspection_url = {introspection_url}\n"
        "username_attribute = username\n"
        "active_attribute = active\n"
        "active_value = true\n"
        "force_introspection = yes\n",
        encoding="utf-8",
    )
    path.chmod(0o644)
    return path


def _config(server: Dovecot, key: Path, accounts: dict[str, str], uid: int, gid: int, oauth2: Path | None) -> str:
    root = server.root
    # With tokens too, each passdb takes only its own mechanisms: a token is never tried as a password, nor a password
    # sent to the introspection endpoint as if it were a token.
    mechanisms, password_mechanisms, token_passdb = "plain login", "", ""
    if oauth2 is not None:
        mechanisms += " xoauth2 oauthbearer"
        password_mechanisms = "\n  mechanisms = plain login"
        token_passdb = f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {oauth2}\n}}\n"
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {server.log_file}
protocols = imap
listen = 127.0.0.1
{chr(10).join(f"{name} = {value}" for name, value in accounts.items())}
first_valid_uid = {min(uid, 500)}
first_valid_gid = {min(gid, 500)}
ssl = yes
ssl_cert = <{server.cafile}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {server.passwd_file}{password_mechanisms}
}}
{token_passdb}userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
mail_location = maildir:{root}/mail/%u
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {server.imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {server.imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


def start_dovecot(
    users: Mapping[str, str], extra_config: str = "", oauth2_introspection_url: str | None = None
) -> Dovecot:
    """Start a fresh server with `users` (name: password); the caller must `stop()` it and remove `root`.

    Users are fixed at start: Dovecot notices a changed passwd-file only a second later.
    `extra_config` is appended to the config, e.g. to announce fewer capabilities.
    With `oauth2_introspection_url` the server also takes SASL XOAUTH2 and OAUTHBEARER, as
    Exchange Online does, asking that URL (RFC 7662 token introspection, e.g. the M365
    stand-in's) whether a token is active and whose it is; passwords still work.
    """
    binary = dovecot_binary()
    if binary is None:
        raise RuntimeError("dovecot is not installed")
    root = Path(tempfile.mkdtemp(prefix="noarkpipe-dovecot-"))
    root.chmod(0o755)
    accounts, uid, gid = _accounts()
    for sub in ("mail", "home"):
        (root / sub).mkdir()
        os.chown(root / sub, uid, gid)
    cert, key = make_certificate(root)
    key.chmod(0o600)
    server = Dovecot(root=root, imap_port=free_port(), imaps_port=free_port(), cafile=cert, users=dict(users))
    server.passwd_file.write_text(
        "".join(f"{name}:{{PLAIN}}{password}\n" for name, password in users.items()), encoding="utf-8"
    )
    server.passwd_file.chmod(0o644)
    config = root / "dovecot.conf"
    oauth2 = _oauth2_file(server, oauth2_introspection_url) if oauth2_introspection_url else None
    config.write_text(_config(server, key, accounts, uid, gid, oauth2) + extra_config, encoding="utf-8")
    server.process = subprocess.Popen(
        [binary, "-F", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            output = server.process.stdout.read().decode(errors="replace")
            raise RuntimeError(f"dovecot exited at start:\n{output}\n{server.log()}")
        if all(_listening(port) for port in (server.imap_port, server.imaps_port)):
            return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"dovecot did not start listening within {STARTUP_TIMEOUT_S} s:\n{server.log()}")


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0
