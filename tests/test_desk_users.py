"""The review desk's users: scrypt password hashes, grants per arkivskaper, refusals, and `noarkpipe desk user` end to end."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

from noarkpipe.cli import main
from noarkpipe.errors import ConfigError
from noarkpipe.services import desk_users
from noarkpipe.services.desk_users import Grant
from noarkpipe.services.installation import Installation
from noarkpipe.services.installation import installation as open_installation
from noarkpipe.store import tables
from noarkpipe.store.engine import Store, _alembic_config

PASSWORD = "korrekt hest batteri"
HASH_FORMAT = re.compile(r"scrypt\$16384\$8\$1\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)")


@pytest.fixture
def opened(installation):
    """The `noarkpipe init` installation (fjellvik and strandby) with its SQLite store."""
    opened = Installation(installation)
    yield opened
    opened.close()


def _stored_hashes(opened) -> dict[str, str]:
    with opened.store.read() as session:
        return dict(session.execute(select(tables.DeskUser.username, tables.DeskUser.password_hash)).all())


def _kari(opened, *grants: Grant):
    grants = grants or (Grant(arkivskaper="fjellvik", role="arkivar", cleared=True),)
    return desk_users.add_user(opened, "kari", "Kari Nordmann", PASSWORD, grants)


# -- schema

def test_the_migrations_make_exactly_the_tables_the_models_declare(opened):
    store = opened.store
    assert store.schema_revision() == store.head_revision()
    assert {"desk_user", "desk_grant"} <= set(store.table_names())
    with store.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), tables.Base.metadata) == []


def test_the_migrations_make_exactly_the_tables_the_models_declare_on_postgres(pg_url):
    store = Store.open(pg_url)
    try:
        assert {"desk_user", "desk_grant"} <= set(store.table_names())
        with store.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), tables.Base.metadata) == []
    finally:
        store.dispose()


def test_migration_0009_goes_down_and_up_again(opened):
    store = opened.store
    with store.engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "0008")
    assert not {"desk_user", "desk_grant"} & set(store.table_names())
    store.migrate()
    assert {"desk_user", "desk_grant"} <= set(store.table_names())


# -- logging in

def test_the_right_password_logs_in_and_nothing_else_does(opened):
    added = _kari(opened)
    assert added == desk_users.DeskUser(
        username="kari", name="Kari Nordmann", disabled=False,
        grants=(Grant(arkivskaper="fjellvik", role="arkivar", cleared=True),),
    )
    assert desk_users.authenticate(opened, "kari", PASSWORD) == added
    assert desk_users.authenticate(opened, "KARI", PASSWORD) == added  # usernames are case-folded
    assert desk_users.authenticate(opened, "kari", PASSWORD + " ") is None
    assert desk_users.authenticate(opened, "kari", PASSWORD.upper()) is None
    assert desk_users.authenticate(opened, "kari", "") is None
    assert desk_users.authenticate(opened, "ola", PASSWORD) is None
    assert desk_users.authenticate(opened, "no such/user", PASSWORD) is None


def test_a_disabled_user_cannot_log_in_until_enabled_again(opened):
    _kari(opened)
    disabled = desk_users.set_disabled(opened, "kari", True)
    assert disabled.disabled and desk_users.get_user(opened, "kari").disabled
    assert desk_users.authenticate(opened, "kari", PASSWORD) is None
    assert not desk_users.set_disabled(opened, "kari", False).disabled
    assert desk_users.authenticate(opened, "kari", PASSWORD) is not None


@pytest.mark.parametrize("case", ["right password", "wrong password", "disabled", "unknown user", "not a username"])
def test_every_login_attempt_costs_one_scrypt_computation(opened, monkeypatch, case):
    """No timing oracle: an unknown user costs what a real one costs."""
    _kari(opened)
    if case == "disabled":
        desk_users.set_disabled(opened, "kari", True)
    username, password = {
        "right password": ("kari", PASSWORD), "wrong password": ("kari", "feil passord!"),
        "disabled": ("kari", PASSWORD), "unknown user": ("ola", PASSWORD), "not a username": ("Ola Nordmann", PASSWORD),
    }[case]
    calls = []
    real_scrypt = hashlib.scrypt

    def counting_scrypt(*args, **kwargs):
        calls.append(kwargs["n"])
        return real_scrypt(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting_scrypt)
    found = desk_users.authenticate(opened, username, password)
    assert (found is not None) == (case == "right password")
    assert calls == [2**14]


def test_the_stored_hash_is_salted_scrypt_and_never_the_password(opened):
    _kari(opened)
    desk_users.add_user(opened, "ola", "Ola Nordmann", PASSWORD, [Grant(arkivskaper="strandby", role="leser", cleared=False)])
    hashes = _stored_hashes(opened)
    assert hashes["kari"] != hashes["ola"]  # same password, different salts
    for stored in hashes.values():
        assert PASSWORD not in stored
        salt_b64, digest_b64 = HASH_FORMAT.fullmatch(stored).groups()
        salt, digest = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        assert len(salt) == 16
        assert PASSWORD.encode() not in salt + digest
        assert digest == hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**14, r=8, p=1, dklen=len(digest))


def test_a_hash_with_other_parameters_still_verifies(opened):
    """The hash names its parameters, so raising them later leaves the old hashes usable."""
    salt = os.urandom(16)
    # Above OpenSSL's default memory limit (32 MiB): verifying it must raise that limit.
    digest = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**15, r=8, p=2, dklen=64, maxmem=2**26)
    stored = f"scrypt$32768$8$2${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    assert desk_users.verify_password(PASSWORD, stored)
    assert not desk_users.verify_password(PASSWORD + "x", stored)
    for broken in ("", "plain", stored.replace("scrypt", "bcrypt"), stored.replace("$32768$", "$1000$"),
                   stored.replace("$32768$", "$1073741824$"), stored + "$extra"):
        assert not desk_users.verify_password(PASSWORD, broken)


def test_a_composed_and_a_decomposed_letter_are_the_same_password(opened):
    desk_users.add_user(opened, "bjorn", "Bjørn Ås", "blåbærsyltetøy", [])
    assert desk_users.authenticate(opened, "bjorn", "bla\u030abærsyltetøy") is not None


def test_a_new_password_replaces_the_old(opened):
    _kari(opened)
    before = _stored_hashes(opened)["kari"]
    assert desk_users.set_password(opened, "Kari", "et helt nytt passord") is None
    assert _stored_hashes(opened)["kari"] != before
    assert desk_users.authenticate(opened, "kari", PASSWORD) is None
    assert desk_users.authenticate(opened, "kari", "et helt nytt passord") is not None


# -- grants

def test_grants_decide_what_a_user_may_see_decide_and_read_unscreened(opened):
    _kari(opened)
    kari = desk_users.set_grant(opened, "kari", Grant(arkivskaper="strandby", role="leser", cleared=False))
    assert [g.arkivskaper for g in kari.grants] == ["fjellvik", "strandby"]
    assert kari.may_decide("fjellvik") and kari.may_see("fjellvik") and kari.cleared_for("fjellvik")
    assert not kari.may_decide("strandby") and kari.may_see("strandby") and not kari.cleared_for("strandby")
    assert not kari.may_see("nordvik") and not kari.may_decide("nordvik") and kari.grant("nordvik") is None

    # Replacing the fjellvik grant: a leser now, not cleared.
    kari = desk_users.set_grant(opened, "kari", Grant(arkivskaper="fjellvik", role="leser", cleared=False))
    assert kari.grant("fjellvik") == Grant(arkivskaper="fjellvik", role="leser", cleared=False)
    assert len(kari.grants) == 2 and not kari.may_decide("fjellvik") and not kari.cleared_for("fjellvik")
    # A leser may be cleared too.
    kari = desk_users.set_grant(opened, "kari", Grant(arkivskaper="strandby", role="leser", cleared=True))
    assert kari.cleared_for("strandby") and not kari.may_decide("strandby")

    kari = desk_users.revoke(opened, "kari", "strandby")
    assert not kari.may_see("strandby") and kari.may_see("fjellvik")
    assert desk_users.get_user(opened, "kari") == kari  # what the calls return is what is stored
    with pytest.raises(ConfigError, match="no grant for 'strandby'"):
        desk_users.revoke(opened, "kari", "strandby")


def test_a_disabled_user_may_do_nothing_but_keeps_the_grants(opened):
    _kari(opened)
    kari = desk_users.set_disabled(opened, "kari", True)
    assert kari.grant("fjellvik") is not None
    assert not kari.may_see("fjellvik") and not kari.may_decide("fjellvik") and not kari.cleared_for("fjellvik")
    assert desk_users.set_disabled(opened, "kari", False).may_decide("fjellvik")


def test_users_are_listed_by_username_and_looked_up_case_folded(opened):
    desk_users.add_user(opened, "Ola.N", "Ola Nordmann", PASSWORD, [])
    _kari(opened)
    assert [u.username for u in desk_users.list_users(opened)] == ["kari", "ola.n"]
    assert desk_users.get_user(opened, "OLA.N").name == "Ola Nordmann"
    assert desk_users.get_user(opened, "per") is None
    assert desk_users.get_user(opened, "not a username") is None


# -- refusals

def test_an_arkivskaper_that_is_not_configured_is_refused(opened):
    with pytest.raises(ConfigError, match="no arkivskaper with kode 'nordvik'") as refused:
        _kari(opened, Grant(arkivskaper="fjellvik", role="arkivar", cleared=False),
              Grant(arkivskaper="nordvik", role="leser", cleared=False))
    assert "fjellvik, strandby" in refused.value.hint
    assert desk_users.list_users(opened) == []
    _kari(opened)
    with pytest.raises(ConfigError, match="nordvik"):
        desk_users.set_grant(opened, "kari", Grant(arkivskaper="nordvik", role="leser", cleared=False))
    assert [g.arkivskaper for g in desk_users.get_user(opened, "kari").grants] == ["fjellvik"]


def test_short_passwords_are_refused(opened):
    with pytest.raises(ConfigError, match="at least 10 characters"):
        desk_users.add_user(opened, "kari", "Kari Nordmann", "123456789", [])
    assert desk_users.list_users(opened) == []
    desk_users.add_user(opened, "kari", "Kari Nordmann", "1234567890", [])
    with pytest.raises(ConfigError, match="at least 10 characters"):
        desk_users.set_password(opened, "kari", "kort")
    assert desk_users.authenticate(opened, "kari", "1234567890") is not None


@pytest.mark.parametrize("username", ["", "a" * 65, "kari nordmann", "kari/admin", "kåre", "kari\n", "ola@kommune.no"])
def test_bad_usernames_are_refused(opened, username):
    with pytest.raises(ConfigError, match="cannot be a desk username"):
        desk_users.add_user(opened, username, "Kari Nordmann", PASSWORD, [])
    assert desk_users.list_users(opened) == []


def test_other_refusals(opened):
    assert desk_users.add_user(opened, "a" * 64, "  Kari Nordmann ", PASSWORD, []).name == "Kari Nordmann"
    with pytest.raises(ConfigError, match="name"):
        desk_users.add_user(opened, "ola", "   ", PASSWORD, [])
    _kari(opened)
    with pytest.raises(ConfigError, match="already"):
        desk_users.add_user(opened, "KARI", "Kari Nordmann", PASSWORD, [])
    twice = [Grant(arkivskaper="fjellvik", role="arkivar", cleared=False), Grant(arkivskaper="fjellvik", role="leser", cleared=False)]
    with pytest.raises(ConfigError, match="one grant per arkivskaper"):
        desk_users.add_user(opened, "per", "Per Hansen", PASSWORD, twice)
    for change in (lambda: desk_users.set_password(opened, "per", PASSWORD),
                   lambda: desk_users.set_disabled(opened, "per", True),
                   lambda: desk_users.revoke(opened, "per", "fjellvik"),
                   lambda: desk_users.set_grant(opened, "per", Grant(arkivskaper="fjellvik", role="leser", cleared=False))):
        with pytest.raises(ConfigError, match="there is no desk user 'per'"):
            change()
    with pytest.raises(ValueError):
        Grant(arkivskaper="fjellvik", role="admin", cleared=False)


# -- the command line

@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def desk_cli(capsys, monkeypatch):
    """`noarkpipe desk user ARGS` through the CLI's entry point (exit codes included), in this process; `password` goes in $DESK_PW."""

    def run(*args, password: str | None = None) -> Done:
        monkeypatch.delenv("DESK_PW", raising=False)
        if password is not None:
            monkeypatch.setenv("DESK_PW", password)
        try:
            main(["desk", "user", *args])
            code = 0
        except SystemExit as exc:
            code = exc.code
        captured = capsys.readouterr()
        return Done(code, captured.out, captured.err)

    return run


def _subprocess_cli(*args, stdin: str):
    env = {name: value for name, value in os.environ.items() if name != "DESK_PW"}
    return subprocess.run(
        [sys.executable, "-m", "noarkpipe.cli", "desk", "user", *args], capture_output=True, text=True, env=env,
        input=stdin, start_new_session=True,  # no controlling terminal: the password prompt reads stdin
    )


def test_desk_user_commands_end_to_end(installation, desk_cli):
    _cli = desk_cli
    config = str(installation.config_path)
    added = _cli("add", "Kari", "--name", "Kari Nordmann", "--role", "arkivar", "-a", "fjellvik", "--cleared",
                 "-c", config, "--password-env", "DESK_PW", password=PASSWORD)
    assert added.returncode == 0, added.stderr
    assert "kari (Kari Nordmann): fjellvik: arkivar, cleared" in added.stdout
    granted = _cli("grant", "kari", "-a", "strandby", "--role", "leser", "-c", config)
    assert granted.returncode == 0, granted.stderr
    assert "fjellvik: arkivar, cleared; strandby: leser" in granted.stdout
    # Changing the role alone keeps the clearance; --not-cleared takes it away.
    assert "fjellvik: leser, cleared;" in _cli("grant", "kari", "-a", "fjellvik", "--role", "leser", "-c", config).stdout
    assert "fjellvik: arkivar;" in _cli("grant", "kari", "-a", "fjellvik", "--role", "arkivar", "--not-cleared",
                                        "-c", config).stdout
    assert _cli("revoke", "kari", "-a", "strandby", "-c", config).returncode == 0

    listed = _cli("list", "--json", "-c", config)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [{
        "username": "kari", "name": "Kari Nordmann", "disabled": False,
        "grants": [{"arkivskaper": "fjellvik", "role": "arkivar", "cleared": False}],
    }]
    assert "Kari Nordmann" in _cli("list", "-c", config).stdout

    with open_installation(installation) as opened:
        assert desk_users.authenticate(opened, "kari", PASSWORD).may_decide("fjellvik")
        disabled = _cli("disable", "kari", "-c", config)
        assert disabled.returncode == 0 and "kari (Kari Nordmann) (disabled): fjellvik: arkivar" in disabled.stdout
        assert desk_users.authenticate(opened, "kari", PASSWORD) is None
        assert re.search(r"kari .*Kari Nordmann.*fjellvik: arkivar .*yes", _cli("list", "-c", config).stdout)
        assert _cli("enable", "kari", "-c", config).returncode == 0
        changed = _cli("passwd", "kari", "-c", config, "--password-env", "DESK_PW", password="et nytt langt passord")
        assert changed.returncode == 0 and "New password set for kari." in changed.stdout
        assert desk_users.authenticate(opened, "kari", PASSWORD) is None
        assert desk_users.authenticate(opened, "kari", "et nytt langt passord") is not None
        # The prompt: a short one is asked again, then typed twice.
        prompted = _subprocess_cli("passwd", "kari", "-c", config, stdin="kort\ntastet to ganger\ntastet to ganger\n")
        assert prompted.returncode == 0, prompted.stderr
        assert "at least 10 characters" in prompted.stdout + prompted.stderr
        assert desk_users.authenticate(opened, "kari", "tastet to ganger") is not None

        everything = added.stdout + added.stderr + listed.stdout + changed.stdout + changed.stderr + prompted.stdout
        assert PASSWORD not in everything and "et nytt langt passord" not in everything
        assert "scrypt$" not in listed.stdout


def test_desk_user_command_refusals_and_their_exit_codes(installation, desk_cli):
    _cli = desk_cli
    config = str(installation.config_path)
    add = ("add", "ola", "--name", "Ola Nordmann", "--role", "leser", "-c", config, "--password-env", "DESK_PW")
    several = _cli(*add, password=PASSWORD)
    assert several.returncode == 3 and "say which one" in several.stderr  # two municipalities, none named
    unknown = _cli(*add, "-a", "nordvik", password=PASSWORD)
    assert unknown.returncode == 3 and "no arkivskaper with kode 'nordvik'" in unknown.stderr
    short = _cli(*add, "-a", "strandby", password="kort")
    assert short.returncode == 3 and "at least 10 characters" in short.stderr and "kort" not in short.stderr
    unset = _cli(*add, "-a", "strandby")
    assert unset.returncode == 2 and "DESK_PW" in unset.stderr
    bad = _cli("add", "ola nordmann", "--name", "Ola", "--role", "leser", "-a", "strandby", "-c", config,
               "--password-env", "DESK_PW", password=PASSWORD)
    assert bad.returncode == 3 and "cannot be a desk username" in bad.stderr
    role = _cli(*add, "-a", "strandby", "--role", "admin", password=PASSWORD)
    assert role.returncode == 2
    missing = _cli("passwd", "per", "-c", config)
    assert missing.returncode == 3 and "there is no desk user 'per'" in missing.stderr
    assert json.loads(_cli("list", "--json", "-c", config).stdout) == []

