"""The review desk's users: who may log in, and per arkivskaper whether they may decide and see screened content.

A user has one grant per municipality: `leser` may look at its review
queue, `arkivar` may also decide; `cleared` shows screened (skjermet)
content. No grant, no access; a disabled user may do nothing and cannot log
in. Users are disabled, never deleted.

Passwords are hashed with scrypt (hashlib, a memory-hard KDF) under a random
16-byte salt and stored as `scrypt$N$r$p$<salt>$<hash>` (standard base64), so
the cost can be raised later and old hashes still verify. A password is
NFC-normalised first: "ø" typed as one character or as o + combining stroke
is the same password in a terminal and in a browser. Hashing happens outside
the store's write transaction, which would otherwise hold the write lock for it.

`authenticate` costs one scrypt computation whatever happens (unknown user,
disabled, wrong password), so its time does not tell which usernames exist.

Every refusal is a `ConfigError` (exit 3): the desk's users are part of the
installation's setup, and its message says what to change. Nothing here logs
or returns a password or a hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import unicodedata
from collections.abc import Sequence
from typing import Literal, cast

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from noarkpipe.clock import utcnow
from noarkpipe.errors import ConfigError
from noarkpipe.services.installation import Installation
from noarkpipe.store import tables

log = logging.getLogger(__name__)

Role = Literal["arkivar", "leser"]
ROLES: tuple[Role, ...] = ("arkivar", "leser")

USERNAME_PATTERN = re.compile(r"[a-z0-9._-]{1,64}")
MIN_PASSWORD_LENGTH = 10
MAX_NAME_LENGTH = 200

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
# A stored hash asking for more than this (n * r) is refused rather than computed: 2**20 * 8 is 1 GiB.
_MAX_COST = 2**20 * 8

_ACTOR = "noarkpipe desk"
_LIST_HINT = "see who there is with 'noarkpipe desk user list'"


class Grant(BaseModel, frozen=True):
    arkivskaper: str
    role: Role
    cleared: bool
    """May see screened (skjermet) content of this arkivskaper."""


class DeskUser(BaseModel, frozen=True):
    username: str
    name: str
    grants: tuple[Grant, ...]
    disabled: bool

    def grant(self, kode: str) -> Grant | None:
        return next((g for g in self.grants if g.arkivskaper == kode), None)

    # A disabled user may do nothing, whatever grants they keep for when they are enabled again.

    def may_decide(self, kode: str) -> bool:
        grant = self.grant(kode)
        return not self.disabled and grant is not None and grant.role == "arkivar"

    def may_see(self, kode: str) -> bool:
        return not self.disabled and self.grant(kode) is not None

    def cleared_for(self, kode: str) -> bool:
        grant = self.grant(kode)
        return not self.disabled and grant is not None and grant.cleared


# -- checks of what is asked, before anything is hashed or written

def normal_username(username: str) -> str:
    """`username` case-folded, or ConfigError when it is not 1-64 of a-z, 0-9, '.', '_', '-'."""
    folded = username.casefold()
    if not USERNAME_PATTERN.fullmatch(folded):
        raise ConfigError(
            f"'{username}' cannot be a desk username",
            hint="use 1-64 letters a-z, digits, '.', '_' or '-', e.g. 'kari.nordmann'",
        )
    return folded


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(
            f"the password is too short: a desk password has at least {MIN_PASSWORD_LENGTH} characters",
            hint="a few unrelated words make a long password that is easy to type",
        )


def _normal_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ConfigError(
            f"a desk user's name is 1-{MAX_NAME_LENGTH} characters", hint="give the person's full name, e.g. 'Kari Nordmann'"
        )
    return name


def _configured(opened: Installation, kode: str) -> None:
    kodes = [a.kode for a in opened.settings.arkivskaper]
    if kode not in kodes:
        raise ConfigError(
            f"no arkivskaper with kode '{kode}' in {opened.settings.config_path}",
            hint="grant access to one of: " + ", ".join(kodes),
        )


# -- password hashes

def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    secret = unicodedata.normalize("NFC", password).encode("utf-8", "surrogatepass")  # an undecodable byte from $VAR too
    # OpenSSL needs 128 * r * (n + p + 2) bytes; its default limit (32 MiB) would refuse a raised n.
    maxmem = 128 * r * (n + p + 2) + 2**20
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, dklen=length, maxmem=maxmem)


def hash_password(password: str) -> str:
    """A new self-describing scrypt hash of `password` under a fresh random salt."""
    salt = os.urandom(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, HASH_BYTES)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


_UNKNOWN_USER_HASH = f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(bytes(SALT_BYTES))}${_b64(bytes(HASH_BYTES))}"
"""Verified against when there is no user, so that costs what a real user costs; no password gives its hash."""


def _parse(stored: str) -> tuple[bytes, int, int, int, bytes] | None:
    try:
        scheme, n_text, r_text, p_text, salt_text, digest_text = stored.split("$")
        n, r, p = int(n_text), int(r_text), int(p_text)
        salt = base64.b64decode(salt_text, validate=True)
        digest = base64.b64decode(digest_text, validate=True)
    except ValueError:
        return None
    if scheme != "scrypt" or n < 2 or n & (n - 1) or r < 1 or p < 1 or n * r > _MAX_COST or p > 16 or not salt or not digest:
        return None
    return salt, n, r, p, digest


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` gives `stored`; a hash that cannot be read never matches."""
    parsed = _parse(stored)
    if parsed is None:
        return False
    salt, n, r, p, digest = parsed
    return hmac.compare_digest(_scrypt(password, salt, n, r, p, len(digest)), digest)


# -- the store

def _user_row(session: Session, username: str) -> tables.DeskUser | None:
    return session.scalars(
        select(tables.DeskUser).where(tables.DeskUser.username == username).options(selectinload(tables.DeskUser.grants))
    ).one_or_none()


def _existing(session: Session, username: str) -> tables.DeskUser:
    row = _user_row(session, normal_username(username))
    if row is None:
        raise ConfigError(f"there is no desk user '{username}'", hint=_LIST_HINT)
    return row


def _model(row: tables.DeskUser) -> DeskUser:
    grants = tuple(
        Grant(arkivskaper=g.arkivskaper, role=cast("Role", g.role), cleared=g.cleared)  # written from a Grant only
        for g in sorted(row.grants, key=lambda g: g.arkivskaper)
    )
    return DeskUser(username=row.username, name=row.name, grants=grants, disabled=row.disabled)


def add_user(opened: Installation, username: str, name: str, password: str, grants: Sequence[Grant]) -> DeskUser:
    """A new desk user with `grants` (each for a configured arkivskaper, at most one per kode)."""
    username, name = normal_username(username), _normal_name(name)
    check_password(password)
    kodes = [g.arkivskaper for g in grants]
    for kode in kodes:
        _configured(opened, kode)
    if len(set(kodes)) != len(kodes):
        raise ConfigError("one grant per arkivskaper: a kode is named twice", hint="give each --arkivskaper once")
    password_hash = hash_password(password)
    with opened.store.write(_ACTOR) as session:
        if _user_row(session, username) is not None:
            raise ConfigError(
                f"there is a desk user '{username}' already",
                hint="change it with 'noarkpipe desk user grant' or 'passwd', or choose another username",
            )
        row = tables.DeskUser(
            username=username, name=name, password_hash=password_hash, disabled=False, created=utcnow(),
            grants=[tables.DeskGrant(arkivskaper=g.arkivskaper, role=g.role, cleared=g.cleared) for g in grants],
        )
        session.add(row)
        session.flush()
        return _model(row)


def set_grant(opened: Installation, username: str, grant: Grant) -> DeskUser:
    """Give the user `grant`, replacing the one they had for its arkivskaper."""
    _configured(opened, grant.arkivskaper)
    with opened.store.write(_ACTOR) as session:
        row = _existing(session, username)
        current = next((g for g in row.grants if g.arkivskaper == grant.arkivskaper), None)
        if current is None:
            row.grants.append(tables.DeskGrant(arkivskaper=grant.arkivskaper, role=grant.role, cleared=grant.cleared))
        else:
            # Changed in place: a delete and an insert of the same (user, kode) in one flush would meet the unique constraint.
            current.role, current.cleared = grant.role, grant.cleared
        session.flush()
        return _model(row)


def revoke(opened: Installation, username: str, kode: str) -> DeskUser:
    """Take the user's grant for `kode` away (also for a kode no longer configured)."""
    with opened.store.write(_ACTOR) as session:
        row = _existing(session, username)
        current = next((g for g in row.grants if g.arkivskaper == kode), None)
        if current is None:
            held = ", ".join(g.arkivskaper for g in row.grants) or "none"
            raise ConfigError(f"desk user '{row.username}' has no grant for '{kode}'", hint=f"their grants: {held}")
        row.grants.remove(current)
        session.flush()
        return _model(row)


def set_password(opened: Installation, username: str, password: str) -> None:
    check_password(password)
    with opened.store.read() as session:
        _existing(session, username)  # before the hash is computed for nothing
    password_hash = hash_password(password)
    with opened.store.write(_ACTOR) as session:
        _existing(session, username).password_hash = password_hash


def set_disabled(opened: Installation, username: str, disabled: bool) -> DeskUser:
    with opened.store.write(_ACTOR) as session:
        row = _existing(session, username)
        row.disabled = disabled
        session.flush()
        return _model(row)


def get_user(opened: Installation, username: str) -> DeskUser | None:
    """The user, or None (also for a string that cannot be a username)."""
    if not USERNAME_PATTERN.fullmatch(folded := username.casefold()):
        return None
    with opened.store.read() as session:
        row = _user_row(session, folded)
        return None if row is None else _model(row)


def list_users(opened: Installation) -> list[DeskUser]:
    with opened.store.read() as session:
        rows = session.scalars(
            select(tables.DeskUser).order_by(tables.DeskUser.username).options(selectinload(tables.DeskUser.grants))
        ).all()
        return [_model(row) for row in rows]


def authenticate(opened: Installation, username: str, password: str) -> DeskUser | None:
    """The user if `password` is theirs and they are not disabled; otherwise None, after the same scrypt work."""
    folded = username.casefold()
    user, stored = None, None
    if USERNAME_PATTERN.fullmatch(folded):
        with opened.store.read() as session:
            row = _user_row(session, folded)
            if row is not None:
                user, stored = _model(row), row.password_hash
    if user is not None and stored is not None and _parse(stored) is None:
        log.warning("desk user %s has a password hash that cannot be read; set a new password with "
                    "'noarkpipe desk user passwd'", user.username)
        stored = None
    matches = verify_password(password, stored or _UNKNOWN_USER_HASH)
    if user is None or stored is None or user.disabled or not matches:
        return None
    return user
