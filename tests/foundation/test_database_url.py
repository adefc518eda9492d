"""The database URLs platforms hand out (`postgres://`, `postgresql://`) work everywhere: CLI,
Alembic, Celery workers; a URL dxcoder cannot use says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clitools import run_dxcoder
from tests.conftest import PipelineEnv
from tests.workers import Worker
from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "claims.csv"


def _plain(url: str, scheme: str) -> str:
    assert url.startswith("postgresql+psycopg2://")
    return scheme + url[len("postgresql+psycopg2://"):]


@pytest.mark.parametrize("scheme", ["postgres://", "postgresql://"])
def test_plain_postgres_urls_use_psycopg2(scheme: str) -> None:
    s = Settings.from_env(environ={"DXCODER_DATABASE_URL": f"{scheme}dx:pw@db:5432/claims"})
    assert s.effective_database_url == "postgresql+psycopg2://dx:pw@db:5432/claims"
    assert not s.is_embedded
    shown = {name: value for name, value, _ in s.describe()}
    assert shown["DXCODER_DATABASE_URL"] == "postgresql+psycopg2://dx:***@db:5432/claims"


def test_explicit_drivers_and_sqlite_are_left_alone() -> None:
    for url in ("postgresql+psycopg2://dx@db/claims", "sqlite:////srv/dx/dx.sqlite3",
                "postgresql+psycopg://dx@db/claims"):
        assert Settings.from_env(environ={"DXCODER_DATABASE_URL": url}).effective_database_url == url


@pytest.mark.parametrize("scheme", ["postgres://", "postgresql://"])
def test_db_upgrade_and_commands_work_with_a_plain_url(empty_pg_url: str, tmp_path: Path,
                                                      scheme: str) -> None:
    plain = _plain(empty_pg_url, scheme)
    upgraded = run_dxcoder("db", "upgrade", database_url=plain, data_dir=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "ModuleNotFoundError" not in upgraded.stderr
    listed = run_dxcoder("jobs", database_url=plain, data_dir=tmp_path)
    assert listed.returncode == 0, listed.stderr


def test_a_worker_and_submit_on_a_plain_url_finish_a_job(pipeline: PipelineEnv) -> None:
    plain = _plain(pipeline.database_url, "postgres://")
    env = {**pipeline.env(), "DXCODER_DATABASE_URL": plain}
    pipeline.workers.append(Worker(env, pipeline.tmp_path / "worker.log").start())
    result = run_dxcoder("submit", str(SAMPLE), "--wait", database_url=plain,
                         data_dir=pipeline.tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "done: 400/400 lines" in result.stderr


def test_a_driver_that_is_not_installed_says_what_to_use(tmp_path: Path) -> None:
    result = run_dxcoder("jobs", database_url="postgresql+psycopg://dx:pw@127.0.0.1/claims",
                         data_dir=tmp_path)
    assert result.returncode == 1
    assert "unexpected" not in result.stderr
    assert "postgresql+psycopg://" in result.stderr and "use postgresql://" in result.stderr
    assert "pw" not in result.stderr


def test_a_url_that_is_not_a_database_says_what_to_set(tmp_path: Path) -> None:
    result = run_dxcoder("jobs", database_url="db-host/claims", data_dir=tmp_path)
    assert result.returncode == 1
    assert "DXCODER_DATABASE_URL" in result.stderr and "postgresql://" in result.stderr
