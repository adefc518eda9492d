"""`dxcoder run`: workers start on the first chunks while the file is still read, the results
file matches a one-process run line for line, and a run cut off leaves nothing half-done."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

from tests.clitools import cut_off_when, one_code_csv, run_dxcoder
from tests.faults.conftest import write_claims


def _count(database: Path, sql: str) -> int:
    with sqlite3.connect(database, timeout=30) as conn:
        return int(conn.execute(sql).fetchone()[0])


def test_two_processes_give_the_one_process_results_in_input_order(sqlite_url: str,
                                                                   tmp_path: Path) -> None:
    claims = write_claims(tmp_path / "claims.csv", 3000, seed=31)
    database = Path(sqlite_url.removeprefix("sqlite:///"))
    # 50-line chunks: 60 chunks, staged ten per commit, so workers start while it is read.
    env = {"DXCODER_CHUNK_SIZE": "50"}
    outputs = {}
    for processes in ("1", "2"):
        out = tmp_path / f"out-{processes}.csv"
        done = run_dxcoder("run", str(claims), "-o", str(out), "--quiet", "--processes",
                           processes, database_url=sqlite_url, data_dir=tmp_path, env=env)
        assert done.returncode in (0, 1), done.stderr
        assert "3,000/3,000 lines" in done.stdout
        outputs[processes] = out.read_text()
        assert not list(tmp_path.glob(f".out-{processes}.csv*"))  # no temporary left
    assert outputs["1"] == outputs["2"]
    rows = list(csv.DictReader(outputs["2"].splitlines()))
    with claims.open(newline="") as fh:
        ids = [row["id"] for row in csv.DictReader(fh)]
    assert [row["id"] for row in rows] == ids  # one row per input line, in input order
    with sqlite3.connect(database) as conn:
        jobs = conn.execute("SELECT status, total_lines, chunk_count, chunks_done, "
                            "json_extract(summary, '$.lines') FROM job").fetchall()
        per_job = conn.execute("SELECT count(*), count(DISTINCT line_no) FROM result "
                               "GROUP BY job_id").fetchall()
    assert jobs == [("done", 3000, 60, 60, 3000)] * 2
    assert per_job == [(3000, 3000)] * 2


def test_ctrl_c_while_the_file_is_read_leaves_no_job_and_no_results_file(
        sqlite_url: str, tmp_path: Path) -> None:
    big = one_code_csv(tmp_path / "big.csv", 1_500_000)
    out = tmp_path / "out.csv"
    database = Path(sqlite_url.removeprefix("sqlite:///"))
    env = {"DXCODER_DATABASE_URL": sqlite_url, "DXCODER_DATA_DIR": str(tmp_path)}
    # Interrupt once chunks have results while the job is still being staged.
    done = cut_off_when(
        ["run", str(big), "-o", str(out), "--quiet", "--processes", "2"], env,
        lambda: bool(_count(database, "SELECT count(*) FROM job j WHERE j.status = 'staging' "
                                      "AND EXISTS (SELECT 1 FROM chunk c WHERE c.job_id = j.id "
                                      "AND c.status = 'done')")),
        "no chunk finished while staging")
    err = done.stderr
    assert done.returncode == 1, err
    assert err.strip().splitlines()[-1] == (
        f"dxcoder: error: interrupted while running {big}; {out} was not written and no "
        "unfinished job was kept. Run it again")
    assert "Traceback" not in err
    assert not list(tmp_path.glob("*out.csv*"))  # neither the file nor its temporary
    for table in ("job", "chunk", "input_line", "result", "task_metric"):
        assert _count(database, f"SELECT count(*) FROM {table}") == 0, table
