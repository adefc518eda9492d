"""Migration 0007 adds the review tables and columns, and goes back down cleanly."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from worker import db, migrate


@pytest.mark.parametrize("fixture", ["empty_pg_url", "empty_sqlite_url"])
def test_0007_upgrades_and_downgrades(fixture: str, request: pytest.FixtureRequest) -> None:
    request.getfixturevalue(fixture)
    migrate.upgrade("0007")
    inspector = sa.inspect(db.get_engine())
    assert "review_decision" in inspector.get_table_names()
    columns = {c["name"] for c in inspector.get_columns("override")}
    assert {"reviewer", "job_id", "dos_from", "dos_to"} <= columns
    migrate.downgrade("0006")
    inspector = sa.inspect(db.get_engine())
    assert "review_decision" not in inspector.get_table_names()
    assert "reviewer" not in {c["name"] for c in inspector.get_columns("override")}
    migrate.upgrade("0007")
    assert "review_decision" in sa.inspect(db.get_engine()).get_table_names()
