"""`dxcoder config` and `dxcoder db ...`: effective settings and schema migrations."""

from __future__ import annotations

import json

import click

from worker import migrate
from worker.settings import get_settings


@click.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of a table.")
def config_command(as_json: bool) -> None:
    """Print the effective settings (secrets masked) with what each one does."""
    rows = get_settings().describe()
    if as_json:
        click.echo(json.dumps({name: value for name, value, _ in rows}, indent=2))
        return
    width = max(len(name) for name, _, _ in rows)
    for name, value, doc in rows:
        click.echo(f"{name:<{width}}  {value}")
        click.echo(f"{'':<{width}}    {doc}")


@click.group("db")
def db_group() -> None:
    """Database schema: upgrade, downgrade, current revision."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the schema up to REVISION (default: the newest)."""
    migrate.upgrade(revision)
    click.echo(f"database at revision {migrate.current_revision()}")


@db_group.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the schema down to REVISION ('base' drops every dxcoder table)."""
    migrate.downgrade(revision)
    click.echo(f"database at revision {migrate.current_revision() or 'base'}")


@db_group.command("current")
def db_current() -> None:
    """Print the schema revision of the database and the one this code needs."""
    click.echo(f"database: {migrate.current_revision() or 'base'}, code: {migrate.head_revision()}")
