"""`noarkpipe desk`: the review desk (a web app for the archivists) and its users."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from noarkpipe.cli import present
from noarkpipe.cli.options import CONFIG_OPTION
from noarkpipe.errors import ConfigError

if TYPE_CHECKING:
    from noarkpipe.services.desk_users import DeskUser, Role

ROLE_OPTION = click.option(
    "--role", required=True, type=click.Choice(["arkivar", "leser"]),
    help="arkivar: may decide the review queue; leser: may only look.",
)
PASSWORD_ENV_OPTION = click.option(
    "--password-env", metavar="VAR",
    help="Read the password from environment variable VAR (for scripts) instead of asking for it.",
)


@click.group()
def desk() -> None:
    """The review desk: the web app where archivists decide the review queue, and who may log in to it.

    \b
      noarkpipe desk user add kari --name "Kari Nordmann" --role arkivar --cleared
      noarkpipe desk serve -c /srv/noarkpipe/noarkpipe.toml     then open http://127.0.0.1:8470/
    """


@desk.command("serve")
@CONFIG_OPTION
@click.option("--host", help="Address to listen on (default [desk] host: 127.0.0.1). Keep loopback behind a proxy.")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default [desk] port: 8470).")
def serve(config_path: Path, host: str | None, port: int | None) -> None:
    """Serve the review desk until Ctrl-C or SIGTERM (systemd's stop)."""
    from noarkpipe import api
    from noarkpipe.desk.server import serve as run_server  # Starlette, uvicorn, the review stack: only here

    run_server(api.check_config(config_path), host=host, port=port, announce=lambda text: present.echo(text, err=True))


@desk.group()
def user() -> None:
    """Who may log in to the review desk, and what each may do per municipality.

    \b
      noarkpipe desk user add kari --name "Kari Nordmann" --role arkivar -a fjellvik --cleared
      noarkpipe desk user grant kari --arkivskaper strandby --role leser
      noarkpipe desk user revoke kari --arkivskaper strandby
      noarkpipe desk user passwd kari
      noarkpipe desk user disable kari        (enable kari lets them in again)
      noarkpipe desk user list

    A leser may look at a municipality's queue, an arkivar may also decide;
    --cleared shows screened (skjermet) content. Without a grant for a
    municipality a user sees nothing of it. Users are disabled, never deleted.
    """


def _password(env_var: str | None) -> str:
    from noarkpipe.services.desk_users import MIN_PASSWORD_LENGTH

    if env_var:
        password = os.environ.get(env_var)
        if password is None:
            raise click.UsageError(f"--password-env {env_var}: that environment variable is not set")
        return password

    def long_enough(value: str) -> str:
        if len(value) < MIN_PASSWORD_LENGTH:
            raise click.UsageError(f"a desk password has at least {MIN_PASSWORD_LENGTH} characters")
        return value

    return click.prompt(
        f"Password (at least {MIN_PASSWORD_LENGTH} characters)", hide_input=True, confirmation_prompt=True,
        value_proc=long_enough,
    )


def _grants_text(found: DeskUser) -> str:
    return "; ".join(f"{g.arkivskaper}: {g.role}{', cleared' if g.cleared else ''}" for g in found.grants) or "no grants"


def _show(found: DeskUser) -> None:
    state = " (disabled)" if found.disabled else ""
    present.echo(f"{found.username} ({found.name}){state}: {_grants_text(found)}")


@user.command("add")
@CONFIG_OPTION
@click.argument("username")
@click.option("--name", required=True, help="The person's full name, as the desk shows it.")
@ROLE_OPTION
@click.option("--arkivskaper", "-a", "kodes", metavar="KODE", multiple=True,
              help="A municipality the role is for; repeat for several (default: the only one configured).")
@click.option("--cleared", is_flag=True, help="May see screened (skjermet) content of these municipalities.")
@PASSWORD_ENV_OPTION
def user_add(config_path: Path, username: str, name: str, role: Role, kodes: tuple[str, ...], cleared: bool,
             password_env: str | None) -> None:
    """Add a desk user; asks for the password twice.

    USERNAME is 1-64 of a-z, 0-9, '.', '_' and '-' (capitals are taken as
    small letters). The role is given for each --arkivskaper named.
    """
    from noarkpipe.services import desk_users
    from noarkpipe.services.installation import installation

    with installation(config_path) as opened:
        username = desk_users.normal_username(username)
        kodes = kodes or (opened.kode(None),)
        grants = [desk_users.Grant(arkivskaper=kode, role=role, cleared=cleared) for kode in kodes]
        if desk_users.get_user(opened, username) is not None:  # before asking for a password for nothing
            raise ConfigError(
                f"there is a desk user '{username}' already",
                hint="change it with 'noarkpipe desk user grant' or 'passwd', or choose another username",
            )
        _show(desk_users.add_user(opened, username, name, _password(password_env), grants))


@user.command("grant")
@CONFIG_OPTION
@click.argument("username")
@click.option("--arkivskaper", "-a", "kode", metavar="KODE", help="The municipality (default: the only one configured).")
@ROLE_OPTION
@click.option("--cleared/--not-cleared", default=None,
              help="May see screened content (default: as the grant it replaces; not cleared for a new one).")
def user_grant(config_path: Path, username: str, kode: str | None, role: Role, cleared: bool | None) -> None:
    """Give USERNAME a role for one municipality (replacing the one they had there)."""
    from noarkpipe.services import desk_users
    from noarkpipe.services.installation import installation

    with installation(config_path) as opened:
        kode = opened.kode(kode)
        if cleared is None:
            found = desk_users.get_user(opened, username)
            before = found.grant(kode) if found is not None else None
            cleared = before is not None and before.cleared
        grant = desk_users.Grant(arkivskaper=kode, role=role, cleared=cleared)
        _show(desk_users.set_grant(opened, username, grant))


@user.command("revoke")
@CONFIG_OPTION
@click.argument("username")
@click.option("--arkivskaper", "-a", "kode", metavar="KODE", help="The municipality (default: the only one configured).")
def user_revoke(config_path: Path, username: str, kode: str | None) -> None:
    """Take USERNAME's access to one municipality away."""
    from noarkpipe.services import desk_users
    from noarkpipe.services.installation import installation

    with installation(config_path) as opened:
        # A kode that is no longer configured can still be revoked.
        _show(desk_users.revoke(opened, username, kode or opened.kode(None)))


@user.command("passwd")
@CONFIG_OPTION
@click.argument("username")
@PASSWORD_ENV_OPTION
def user_passwd(config_path: Path, username: str, password_env: str | None) -> None:
    """Set a new password for USERNAME; asks for it twice."""
    from noarkpipe.services import desk_users
    from noarkpipe.services.installation import installation

    with installation(config_path) as opened:
        if desk_users.get_user(opened, username) is None:
            raise ConfigError(f"there is no desk user '{username}'", hint="see who there is with 'noarkpipe desk user list'")
        desk_users.set_password(opened, username, _password(password_env))
        present.echo(f"New password set for {desk_users.normal_username(username)}.")


@user.command("disable")
@CONFIG_OPTION
@click.argument("username")
def user_disable(config_path: Path, username: str) -> None:
    """Stop USERNAME from logging in; the grants are kept for 'enable'."""
    from noarkpipe.services import desk_users
    from noarkpipe.services.installation import installation

    with installation(config_path) as opened:
        _show(desk_users.set_disabled(opened, username, True))


@user.command("enable")
@CONFIG_OPTION
@click.argument("username")
def user_enable(config_path: Path, username: str) -> None:
    """Let a disabled USERNAME log in again, with the grants they had."""
    from noarkpipe.services import desk_users
    from noarkpipe.services.installation import installation

    with installation(config_path) as opened:
        _show(desk_users.set_disabled(opened, username, False))


@user.command("list")
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def user_list(config_path: Path, as_json: bool) -> None:
    """List the desk users with their grants (never their passwords)."""
    from noarkpipe.services import desk_users
    from noarkpipe.services.installation import installation

    with installation(config_path) as opened:
        users = desk_users.list_users(opened)
    if as_json:
        click.echo(json.dumps([u.model_dump(mode="json") for u in users], ensure_ascii=False, indent=2))
        return
    if not users:
        click.echo("No desk users yet: add one with 'noarkpipe desk user add'.")
        return
    table = Table(title=f"Desk users ({len(users)})")
    for column in ("username", "name", "grants", "disabled"):
        table.add_column(column, overflow="fold")
    for u in users:
        table.add_row(*map(present.cell, (u.username, u.name, _grants_text(u), "yes" if u.disabled else "")))
    present.console().print(table)
