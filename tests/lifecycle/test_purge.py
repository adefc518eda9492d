"""Retention: `dxcoder jobs purge` removes a job's claims data, keeps a PHI-free summary row,
drops its partitions on PostgreSQL, clears old inbox files, and what refers to it says so."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

import sqlalchemy as sa

from tests.clitools import run_dxcoder
from worker import db

TERMS = ("E11.9", "essential hypertension", "Type 2 Diabetes")


def _run_job(tmp_path: Path, url: str, name: str, rows: int = 3) -> str:
    claims = tmp_path / f"{name}.csv"
    claims.write_text("id,term,date_of_service\n" + "".join(
        f"{name}-{n},{TERMS[n % 3]},2025-03-0{1 + n % 9}\n" for n in range(rows)))
    done = run_dxcoder("run", str(claims), "-o", str(tmp_path / f"{name}.out.csv"), "--quiet",
                       "--processes", "1", database_url=url, data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    with db.get_engine().connect() as conn:
        return str(conn.execute(sa.text("SELECT id FROM job WHERE name = :n"),
                                {"n": claims.name}).scalar_one())


def _rows(job_id: str) -> dict[str, int]:
    with db.get_engine().connect() as conn:
        return {table: int(conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE job_id = :j"),
                                        {"j": job_id}).scalar_one())
                for table in ("input_line", "result", "chunk", "task_metric")}


def _partitions(job_id: str) -> list[str]:
    with db.get_engine().connect() as conn:
        return sorted(conn.execute(sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE c.relname LIKE :pattern"), {"pattern": f"%{job_id}"}).scalars())


def _export(job_id: str, url: str, tmp_path: Path) -> str:
    result = run_dxcoder("results", job_id, database_url=url, data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_purge_one_job_keeps_a_summary_and_the_other_jobs(any_db_url: str,
                                                          tmp_path: Path) -> None:
    old, kept = _run_job(tmp_path, any_db_url, "old"), _run_job(tmp_path, any_db_url, "kept", 5)
    kept_export = _export(kept, any_db_url, tmp_path)
    postgres = any_db_url.startswith("postgresql")
    if postgres:  # the export analyzed the new partitions it joins (partitions.analyze_new)
        with db.get_engine().connect() as conn:
            analyzed = conn.execute(sa.text(
                "SELECT count(*) FROM pg_stat_user_tables WHERE relname IN (:a, :b) "
                "AND last_analyze IS NOT NULL"),
                {"a": f"input_line_{kept}", "b": f"result_{kept}"}).scalar_one()
        assert analyzed == 2
    if postgres:
        assert _partitions(old) == sorted([f"input_line_{old}", f"result_{old}",
                                           f"result_history_{old}"])
    assert _rows(old)["result"] == 3 and _rows(old)["chunk"] >= 1

    dry = run_dxcoder("jobs", "purge", "--job", old, "--dry-run", database_url=any_db_url,
                      data_dir=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert f"would purge {old}" in dry.stdout and "input_line 3, result 3" in dry.stdout
    assert _rows(old)["result"] == 3

    purged = run_dxcoder("jobs", "purge", "--job", old, "--yes", database_url=any_db_url,
                         data_dir=tmp_path, env={"DXCODER_LOG_FORMAT": "json"})
    assert purged.returncode == 0, purged.stderr
    assert "purged 1 jobs (input_line 3, result 3, result_history 0, chunk " in purged.stdout
    assert _rows(old) == {"input_line": 0, "result": 0, "chunk": 0, "task_metric": 0}
    if postgres:
        assert _partitions(old) == []
    for term in TERMS:  # ids and counts are logged, never the claims data
        assert term not in purged.stderr and term not in purged.stdout
    with db.get_engine().connect() as conn:
        status, name, source, digest, total, summary = conn.execute(sa.text(
            "SELECT status, name, source_file, content_hash, total_lines, summary FROM job "
            "WHERE id = :j"), {"j": old}).one()
    summary = summary if isinstance(summary, dict) else json.loads(summary)
    assert (status, name, source, total) == ("purged", "(purged)", "", 3)
    assert len(digest) == 64 and summary["lines"] == 3 and sum(summary["by_status"].values()) == 3
    assert summary["purged"]["rows"]["result"] == 3

    results = run_dxcoder("results", old, database_url=any_db_url, data_dir=tmp_path)
    assert results.returncode == 1 and f"job {old} was purged on " in results.stderr
    retry = run_dxcoder("retry", old, database_url=any_db_url, data_dir=tmp_path)
    assert retry.returncode == 1 and f"job {old} was purged on " in retry.stderr
    recode = run_dxcoder("recode", "run", "--job", old, database_url=any_db_url,
                         data_dir=tmp_path)
    assert recode.returncode == 0, recode.stderr
    assert "was purged" in recode.stderr and "nothing to recode" in recode.stderr
    # Review decisions for it say so too: no sheet of it, and a sheet made before is refused.
    sheet = run_dxcoder("review", "export", old, "-o", str(tmp_path / "old.review.csv"),
                        database_url=any_db_url, data_dir=tmp_path)
    assert sheet.returncode == 1 and f"job {old} was purged on " in sheet.stderr
    earlier = tmp_path / "earlier.review.csv"
    earlier.write_text("job,entry,lines,example_line_nos,status,message,candidates,decision,note\n"
                       f"{old},essential hypertension,1,2,needs_review,,,I10,\n")
    decided = run_dxcoder("review", "import", str(earlier), "--reviewer", "coder1",
                          database_url=any_db_url, data_dir=tmp_path)
    assert decided.returncode == 1 and f"job {old} was purged on " in decided.stderr
    assert "nothing was applied" in decided.stderr
    again = run_dxcoder("jobs", "purge", "--job", old, "--yes", database_url=any_db_url,
                        data_dir=tmp_path)
    assert again.returncode == 0 and "nothing to purge" in again.stdout
    assert _export(kept, any_db_url, tmp_path) == kept_export
    listing = run_dxcoder("jobs", database_url=any_db_url, data_dir=tmp_path).stdout
    assert f"{old}  purged" in listing and f"{kept}  done" in listing


def test_older_than_purges_old_jobs_and_inbox_files(any_db_url: str, tmp_path: Path) -> None:
    old, new = _run_job(tmp_path, any_db_url, "old"), _run_job(tmp_path, any_db_url, "new")
    with db.get_engine().begin() as conn:  # submitted 100 days ago
        conn.execute(sa.text("UPDATE job SET created_at = :t WHERE id = :j"),
                     {"t": dt.datetime.now(dt.UTC) - dt.timedelta(days=100), "j": old})
    inbox = tmp_path / "inbox"
    for sub in ("archive", "outbox", "rejected"):
        (inbox / sub).mkdir(parents=True)
    stale = [inbox / "archive" / "old.csv", inbox / "outbox" / "old.results.csv"]
    fresh = [inbox / "archive" / "new.csv", inbox / "outbox" / "new.results.csv",
             inbox / "rejected" / "old.csv", inbox / "waiting.csv"]
    long_ago = time.time() - 100 * 86400
    for path in stale + fresh:
        path.write_text("id,term\n1,E11.9\n")
    for path in (*stale, fresh[2], fresh[3]):
        os.utime(path, (long_ago, long_ago))
    env = {"DXCODER_INBOX_DIR": str(inbox)}
    dry = run_dxcoder("jobs", "purge", "--older-than", "90d", "--dry-run",
                      database_url=any_db_url, data_dir=tmp_path, env=env)
    assert dry.returncode == 0, dry.stderr
    assert f"would purge {old}" in dry.stdout and new not in dry.stdout
    assert all(f"would delete {p}" in dry.stdout for p in stale)
    assert all(p.exists() for p in stale)
    done = run_dxcoder("jobs", "purge", "--older-than", "90d", "--yes",
                       database_url=any_db_url, data_dir=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "purged 1 jobs" in done.stdout and "2 files" in done.stdout
    assert [p.exists() for p in stale] == [False, False]
    assert all(p.exists() for p in fresh)  # rejected/ and the inbox itself are not retention's
    assert _rows(old)["result"] == 0 and _rows(new)["result"] == 3
    unparsed = run_dxcoder("jobs", "purge", "--older-than", "soon", database_url=any_db_url,
                           data_dir=tmp_path)
    assert unparsed.returncode != 0 and "90d" in unparsed.stderr
    neither = run_dxcoder("jobs", "purge", database_url=any_db_url, data_dir=tmp_path)
    assert neither.returncode == 2 and "--older-than AGE or --job JOB" in neither.stderr


def test_a_job_with_recoding_to_do_waits_and_late_rows_are_swept(pg_url: str,
                                                                  tmp_path: Path) -> None:
    job = _run_job(tmp_path, pg_url, "recoded")
    with db.get_engine().begin() as conn:
        conn.execute(sa.text("INSERT INTO recode_run (id, trigger, dry_run, status, chunk_count,"
                             " chunks_done, started_at) VALUES ('run1', 'cli', false, "
                             "'running', 1, 0, now())"))
        conn.execute(sa.text("INSERT INTO recode_chunk (run_id, job_id, first_line, last_line,"
                             " status, attempts) VALUES ('run1', :j, 2, 4, 'queued', 0)"),
                     {"j": job})
    refused = run_dxcoder("jobs", "purge", "--job", job, "--yes", database_url=pg_url,
                          data_dir=tmp_path)
    assert refused.returncode == 1 and "recoding run has chunks of it" in refused.stderr
    assert _rows(job)["result"] == 3
    with db.get_engine().begin() as conn:
        conn.execute(sa.text("UPDATE recode_chunk SET status = 'done'"))
    done = run_dxcoder("jobs", "purge", "--job", job, "--yes", database_url=pg_url,
                       data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    report = run_dxcoder("recode", "report", "run1", database_url=pg_url, data_dir=tmp_path)
    assert report.returncode == 0 and f"job {job} was purged" in report.stderr
    with db.get_engine().begin() as conn:  # written after the purge: lands in DEFAULT
        conn.execute(sa.text(
            "INSERT INTO result (job_id, line_no, entry_id, input, status, code, description, "
            "method, confidence, code_set, alternatives, message) VALUES (:j, 2, '', 'E11.9', "
            "'resolved', 'E11.9', '', 'override', 1, 'FY2025', '', '')"), {"j": job})
    from worker.lifecycle.purge import retention_purge

    retention_purge(trigger="test")
    assert _rows(job)["result"] == 0
