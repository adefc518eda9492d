"""Schema migrations (Alembic) run from code: `dxcoder db upgrade|downgrade|current`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from worker import db
from worker.errors import NotMigratedError

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(revision: str = "head") -> None:
    command.upgrade(alembic_config(), revision)


def downgrade(revision: str) -> None:
    command.downgrade(alembic_config(), revision)


def current_revision() -> str | None:
    with db.get_engine().connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def require_current() -> None:
    """Refuse to run against a schema older (or newer) than this code."""
    current, head = current_revision(), head_revision()
    if current != head:
        raise NotMigratedError(
            f"database schema is at {current or 'nothing'}, this dxcoder needs {head}: "
            "run `dxcoder db upgrade`"
        )
