"""Alembic migrations upgrade an empty database and downgrade it again, on both backends."""

from __future__ import annotations

import pytest

from worker import db, migrate
from worker.errors import NotMigratedError

TABLES = {"code_set_release", "code", "term", "gem_mapping", "override", "data_version", "job",
          "chunk", "input_line", "result", "task_metric", "inbox_file", "recode_run",
          "recode_chunk", "result_history", "gem_backward", "icd9_title"}


@pytest.mark.parametrize("fixture", ["empty_pg_url", "empty_sqlite_url"])
def test_upgrade_from_empty_and_downgrade_to_base(fixture: str,
                                                  request: pytest.FixtureRequest) -> None:
    request.getfixturevalue(fixture)
    with pytest.raises(NotMigratedError, match="dxcoder db upgrade"):
        migrate.require_current()
    migrate.upgrade()
    assert db.table_names() >= TABLES
    assert migrate.current_revision() == migrate.head_revision()
    migrate.require_current()
    migrate.downgrade("base")
    assert not (TABLES & db.table_names())
    assert migrate.current_revision() is None
    migrate.upgrade()  # and back up again: downgrades leave nothing behind that blocks it
    assert db.table_names() >= TABLES
