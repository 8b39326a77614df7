"""Who is asking, and may they: sessions, CSRF, the login throttle, the signing key, response headers.

A session is a cookie signed with the installation's own key
(`Settings.desk_secret_path`, 32 random bytes made on first start, mode
0600): it names the user and carries the CSRF token. It is HttpOnly,
SameSite=Strict, and Secure when `[desk] secure_cookies` says the desk is
served over TLS. Logging in replaces the session (no fixation); every
request looks the user up again, so a user disabled or revoked loses access
at once, not when the cookie expires.

Every POST must carry the session's CSRF token in its form (`csrf`);
a missing or wrong one is refused with 403 before anything is read.

With `[desk] trusted_user_header`, a request from one of `trusted_proxies`
that carries the header is that user (single sign-on at the proxy); the user
must still exist in the desk's user list, and still needs the CSRF token.

Failed logins are counted per user name: after `MAX_FAILURES` within
`FAILURE_WINDOW_S` the name is refused for the rest of the window.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from collections import deque
from pathlib import Path

from starlette.requests import Request

from noarkpipe.config import DeskSettings

CSRF_FIELD = "csrf"
MAX_FAILURES = 5
FAILURE_WINDOW_S = 15 * 60
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def signing_key(path: Path) -> str:
    """The key that signs session cookies: read, or made once (0600) and kept across restarts."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another desk made it first
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key


def csrf_token(request: Request) -> str:
    """The session's token, made when the session has none (the login form's first view)."""
    token = request.session.get(CSRF_FIELD)
    if not token:
        token = request.session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


def csrf_valid(request: Request, sent: object) -> bool:
    expected = request.session.get(CSRF_FIELD)
    return isinstance(expected, str) and bool(expected) and isinstance(sent, str) and hmac.compare_digest(expected, sent)


def start_session(request: Request, username: str) -> None:
    """A fresh session for `username`: whatever the cookie held before is dropped."""
    request.session.clear()
    request.session["user"] = username
    request.session[CSRF_FIELD] = secrets.token_urlsafe(32)


def session_username(request: Request, settings: DeskSettings) -> str | None:
    """The user the request is from: the trusted proxy's header, else the session's, else None."""
    header = settings.trusted_user_header
    if header and request.client is not None and request.client.host in settings.trusted_proxies:
        named = request.headers.get(header, "").strip()
        if named:
            return named.casefold()
    user = request.session.get("user")
    return user if isinstance(user, str) else None


class LoginThrottle:
    """Failed logins per user name within a sliding window."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = FAILURE_WINDOW_S) -> None:
        self.max_failures, self.window_s = max_failures, window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, username: str) -> bool:
        with self._lock:
            return len(self._recent(username)) >= self.max_failures

    def failed(self, username: str) -> None:
        with self._lock:
            self._recent(username).append(time.monotonic())

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(username, None)

    def _recent(self, username: str) -> deque[float]:
        failures = self._failures.setdefault(username, deque())
        while failures and time.monotonic() - failures[0] > self.window_s:
            failures.popleft()
        return failures
