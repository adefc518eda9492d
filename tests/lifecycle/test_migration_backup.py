"""Migration 0008 carries the data of a database at the previous head into per-job partitions,
and a pg_dump / pg_restore of a database holding a job gives the same results export."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.clitools import run_dxcoder
from tests.conftest import PG_SERVER, _drop
from worker import db


def _job(tmp_path: Path, url: str) -> str:
    claims = tmp_path / "claims.csv"
    claims.write_text("id,term,date_of_service\n1,E11.9,2025-03-01\n2,essential hypertension,"
                      "2024-11-02\n3,not a diagnosis at all,2025-01-05\n4,250.00,2025-02-01\n")
    done = run_dxcoder("run", str(claims), "-o", str(tmp_path / "out.csv"), "--quiet",
                       "--processes", "1", database_url=url, data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    with db.get_engine().connect() as conn:
        return str(conn.execute(sa.text("SELECT id FROM job")).scalar_one())


def _export(job_id: str, url: str, tmp_path: Path) -> str:
    out = run_dxcoder("results", job_id, "--format", "jsonl", database_url=url,
                      data_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("\n") == 4
    return out.stdout


def _kind(conn: sa.Connection, table: str) -> str:
    return str(conn.execute(sa.text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:t)"),
                            {"t": table}).scalar_one())


def _where(conn: sa.Connection, table: str) -> dict[str, int]:
    """Rows of `table` by the partition that holds them."""
    return dict(conn.execute(sa.text(
        f"SELECT tableoid::regclass::text, count(*) FROM {table} GROUP BY 1")).all())


def test_upgrade_from_the_previous_head_carries_every_row(pg_url: str, tmp_path: Path) -> None:
    job = _job(tmp_path, pg_url)
    before = _export(job, pg_url, tmp_path)
    down = run_dxcoder("db", "downgrade", "0006", database_url=pg_url, data_dir=tmp_path)
    assert down.returncode == 0, down.stderr
    db.dispose()
    engine = db.get_engine()
    with engine.begin() as conn:  # written at 0006: a second job, its history, a stray row
        assert _kind(conn, "result") == "r"
        conn.execute(sa.text(
            "INSERT INTO job (id, name, source_file, content_hash, format, status, total_lines,"
            " chunk_count, chunks_done, created_at) VALUES ('b0b0', 'b.csv', 'b.csv', "
            "repeat('b', 64), 'csv', 'done', 2, 1, 1, now())"))
        for line in (2, 3):
            conn.execute(sa.text(
                "INSERT INTO input_line VALUES ('b0b0', :n, 'x', 'E11.9', 'auto', NULL, '', '')"),
                {"n": line})
            conn.execute(sa.text(
                "INSERT INTO result (job_id, line_no, entry_id, input, status, code, description,"
                " method, confidence, code_set, alternatives, message) VALUES ('b0b0', :n, 'x', "
                "'E11.9', 'resolved', 'E11.9', 't', 'code_exact', 1, 'FY2025', '', '')"),
                {"n": line})
        conn.execute(sa.text(
            "INSERT INTO recode_run (id, trigger, dry_run, status, chunk_count, chunks_done, "
            "started_at) VALUES ('r1', 'cli', false, 'done', 1, 1, now())"))
        conn.execute(sa.text(
            "INSERT INTO result_history VALUES ('r1', 'b0b0', 2, 'retitled', 'resolved', "
            "'E11.9', 'old', 'code_exact', 'FY2025', 'resolved', 'E11.9', 'new', 'code_exact', "
            "'FY2026', '', now())"))
        conn.execute(sa.text(  # a row of no job: it goes to the DEFAULT partition
            "INSERT INTO result (job_id, line_no, entry_id, input, status, code, description, "
            "method, confidence, code_set, alternatives, message) VALUES ('stray', 1, '', '', "
            "'no_match', '', '', '', 0, '', '', '')"))
        counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("input_line", "result", "result_history")}
    db.dispose()
    up = run_dxcoder("db", "upgrade", database_url=pg_url, data_dir=tmp_path)
    assert up.returncode == 0, up.stderr
    with db.get_engine().connect() as conn:
        assert [_kind(conn, t) for t in ("input_line", "result", "result_history")] == ["p"] * 3
        assert _where(conn, "result") == {f"result_{job}": 4, "result_b0b0": 2,
                                          "result_default": 1}
        assert _where(conn, "input_line") == {f"input_line_{job}": 4, "input_line_b0b0": 2}
        assert _where(conn, "result_history") == {"result_history_b0b0": 1}
        assert counts == {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                          for t in ("input_line", "result", "result_history")}
        history = conn.execute(sa.text("SELECT old_description, new_code_set FROM "
                                       "result_history")).one()
    assert tuple(history) == ("old", "FY2026")
    assert _export(job, pg_url, tmp_path) == before
    # The stray row and job b0b0 purge like any other (DELETE from DEFAULT, DROP of partitions).
    purged = run_dxcoder("jobs", "purge", "--job", "b0b0", "--yes", database_url=pg_url,
                         data_dir=tmp_path)
    assert purged.returncode == 0, purged.stderr
    assert "input_line 2, result 2, result_history 1" in purged.stdout


@pytest.fixture
def restored_url(pg_admin: sa.Engine) -> Iterator[str]:
    name = f"dxcoder_r_{uuid.uuid4().hex[:10]}"
    with pg_admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield f"{PG_SERVER}/{name}"
    _drop(pg_admin, name)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg2://", "postgresql://")


def test_dump_and_restore_give_the_same_results(pg_url: str, restored_url: str,
                                                tmp_path: Path) -> None:
    job = _job(tmp_path, pg_url)
    before = _export(job, pg_url, tmp_path)
    dump = tmp_path / "dxcoder.dump"
    # The recipe of deploy/README.md: custom format, restored without owners.
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={dump}",
                    _libpq(pg_url)], check=True, timeout=300)
    subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={_libpq(restored_url)}",
                    str(dump)], check=True, timeout=300)
    db.dispose()
    assert _export(job, restored_url, tmp_path) == before
    status = run_dxcoder("status", job, database_url=restored_url, data_dir=tmp_path)
    assert status.returncode == 0 and "done" in status.stdout
    # The restored database takes new jobs: the partitioned tables came back whole.
    other = tmp_path / "next.csv"
    other.write_text("id,term\n1,E11.9\n")
    done = run_dxcoder("run", str(other), "-o", str(tmp_path / "next.out.csv"), "--quiet",
                       "--processes", "1", database_url=restored_url, data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
