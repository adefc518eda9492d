"""`dxcoder run`: workers start on the first chunks while the file is still read, the results
file matches a one-process run line for line, and a run cut off leaves nothing half-done."""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import re
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clitools import cut_off_when, one_code_csv, run_dxcoder
from tests.conftest import use_database
from tests.faults.conftest import write_claims
from worker.errors import DependencyUnavailable, DxcoderError, JobError
from worker.pipeline import embedded, producer


def _count(database: Path, sql: str) -> int:
    with sqlite3.connect(database, timeout=30) as conn:
        return int(conn.execute(sql).fetchone()[0])


def test_two_processes_give_the_one_process_results_in_input_order(sqlite_url: str,
                                                                   tmp_path: Path) -> None:
    claims = write_claims(tmp_path / "claims.csv", 3000, seed=31)
    database = Path(sqlite_url.removeprefix("sqlite:///"))
    # 50-line chunks: 60 chunks, staged ten per commit, so workers start while it is read.
    env = {"DXCODER_RUN_CHUNK_SIZE": "50"}
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


# Lines that test the rendering: a formula-looking term and pass-through cell, quotes, commas and
# non-ASCII text, a line with too few fields, an unknown system, a bad date, free text.
_AWKWARD_HEADER = 'id,term,system,date_of_service,payer,note\n'
_AWKWARD_LINES = (
    'A1,E11.9,icd10cm,2025-03-01,AETNA,plain\n'
    'A2,"=HYPERLINK(""x"")",auto,2025-03-01,=SUM(A1),"-2, with ""quotes"""\n'
    'A3,type 2 diabetes without complications,text,2025-03-01,BCBS,Ünïcode\n'
    'A4,250.00,icd9cm,2015-06-01,+MEDICARE,@home\n'
    'A5,I10,auto\n'
    'A6,I10,bogus,2025-03-01,AETNA,\n'
    'A7,I10,auto,2025-02-30,AETNA,\n'
    'A8,essential hypertension,auto,,AETNA,\n'
)


def _export(job_id: str, fmt: str, database_url: str, data_dir: Path, out: Path) -> str:
    done = run_dxcoder("results", job_id, "-o", str(out), "--format", fmt,
                       database_url=database_url, data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    return out.read_text(encoding="utf-8")


@pytest.mark.parametrize(("source", "fmt"), [
    ("claims.csv", "csv"), ("claims.csv", "jsonl"), ("claims.jsonl", "csv"),
    ("empty.csv", "csv")])
def test_the_results_file_is_the_export_of_the_stored_job(sqlite_url: str, tmp_path: Path,
                                                          source: str, fmt: str) -> None:
    """Workers render a CSV's output from the results they commit; a JSONL's pass-through
    columns are known only at the end, so its CSV is read back. Either way the file is
    byte for byte what `dxcoder results` exports from the stored job."""
    files = {"claims.csv": _AWKWARD_HEADER + _AWKWARD_LINES * 40,  # 320 lines: 8 chunks
             "empty.csv": "id,term,payer\n",
             "claims.jsonl": "".join(json.dumps(record) + "\n" for record in [
                 {"id": "J1", "term": "E11.9", "payer": "=cmd|x"},
                 {"id": "J2", "term": "I10", "member": "M-1", "date_of_service": "2025-03-01"},
                 {"id": "J3", "term": "broken", "system": "nope"}] * 30)}
    path = tmp_path / source
    path.write_text(files[source], encoding="utf-8")
    out = tmp_path / f"out.{fmt}"
    done = run_dxcoder("run", str(path), "-o", str(out), "--quiet", "--output-format", fmt,
                       "--processes", "2", database_url=sqlite_url, data_dir=tmp_path,
                       env={"DXCODER_RUN_CHUNK_SIZE": "40"})
    assert done.returncode in (0, 1), done.stderr
    job_id = re.search(r"job (\w+) done", done.stdout).group(1)  # type: ignore[union-attr]
    written = out.read_text(encoding="utf-8")
    assert written == _export(job_id, fmt, sqlite_url, tmp_path, tmp_path / f"export.{fmt}")
    lines = written.splitlines()
    if source == "empty.csv":
        assert lines == [",".join(["line_no", "id", "input", "status", "code", "description",
                                   "method", "confidence", "code_set", "alternatives",
                                   "message", "date_of_service"])]
    elif fmt == "csv":
        rows = list(csv.DictReader(lines))
        assert len(rows) == len(files[source].splitlines()) - (source == "claims.csv")
        if source == "claims.csv":
            assert rows[1]["input"].startswith("'=") and rows[1]["payer"] == "'=SUM(A1)"
            assert rows[4]["status"] == "invalid_input" and rows[0]["note"] == "plain"
        else:
            assert rows[0]["payer"] == "'=cmd|x" and rows[1]["member"] == "M-1"
    else:
        records = [json.loads(line) for line in lines]
        assert [r["line_no"] for r in records] == list(range(2, 322))  # the header is line 1
        assert records[1]["extra"]["payer"] == "=SUM(A1)"  # JSON needs no spreadsheet quoting


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_while_the_file_is_read_leaves_no_job_and_no_results_file(
        sqlite_url: str, tmp_path: Path, stop: signal.Signals) -> None:
    """SIGTERM (a scheduler stopping the run, `timeout`) is handled as Ctrl-C is."""
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
        "no chunk finished while staging", cut=lambda process: process.send_signal(stop))
    err = done.stderr
    assert done.returncode == 1, err
    assert err.strip().splitlines()[-1] == (
        f"dxcoder: error: interrupted while running {big}; {out} was not written and no "
        "unfinished job was kept. Run it again")
    assert "Traceback" not in err
    assert not list(tmp_path.glob("*out.csv*"))  # neither the file nor its temporary
    for table in ("job", "chunk", "input_line", "result", "task_metric"):
        assert _count(database, f"SELECT count(*) FROM {table}") == 0, table


class _Unpicklable(Exception):
    def __init__(self, what: str, where: int) -> None:  # pickle calls it with the message only
        super().__init__(f"{what} at {where}")


@pytest.mark.parametrize("failure", ["error", "circuit", "unpicklable", "death"])
def test_a_failure_in_the_process_reading_the_file_fails_the_run_and_keeps_nothing(
        sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    """With two processes or more the file is staged by a process of its own; whatever stops it
    after its first batch reaches the run as an error, and nothing of the job is kept."""
    claims = one_code_csv(tmp_path / "claims.csv", 3000)
    use_database(sqlite_url, tmp_path, run_chunk_size=100)  # 30 chunks: three batches of ten
    staged = producer.BatchStaging.batches

    def failing(self: producer.BatchStaging) -> Iterator[list[producer.ChunkSpan]]:
        for n, batch in enumerate(staged(self)):
            if n == 1:  # the first batch is committed and its chunks are with the workers
                if failure == "death":
                    os._exit(3)
                raise {"error": JobError("the disk went away"),
                       "circuit": DependencyUnavailable("postgresql", 30),
                       "unpicklable": _Unpicklable("C000001500", 1500)}[failure]
            yield batch

    monkeypatch.setattr(producer.BatchStaging, "batches", failing)  # inherited by the fork
    out = tmp_path / "out.csv"
    with pytest.raises(DxcoderError) as raised:
        embedded.run_file(claims, out, processes=2)
    assert type(raised.value) is (DependencyUnavailable if failure == "circuit" else JobError)
    assert str(raised.value) == {
        "error": "the disk went away",
        "circuit": "postgresql is unavailable (circuit open); retry in 30 s",
        "unpicklable": "reading the file failed (_Unpicklable)",  # its message is not passed on
        "death": "the process reading the file stopped before the end of the file",
    }[failure]
    assert not list(tmp_path.glob("*out.csv*"))
    database = Path(sqlite_url.removeprefix("sqlite:///"))
    for table in ("job", "chunk", "input_line", "result", "task_metric"):
        assert _count(database, f"SELECT count(*) FROM {table}") == 0, table



def test_the_pool_processes_stop_on_sigterm_whatever_the_parent_does_with_it(
        sqlite_url: str, tmp_path: Path) -> None:
    """The pool's end (Pool.terminate) stops its processes with SIGTERM. A parent that handles
    SIGTERM itself (`inbox watch` does, to finish its pass) must not hand its handler down: a
    process that outlived SIGTERM left the parent waiting for it forever."""
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: None)
    try:
        assert _catches_sigterm(os.getpid())
        with embedded._chunk_runner(2):
            workers = [child.pid for child in multiprocessing.active_children()
                       if child.name.startswith("ForkPoolWorker")]
            assert len(workers) == 2
            # Each process sets its signals up as it starts (the pool's initializer), maybe
            # after the pool is handed over: give them a moment.
            deadline = time.monotonic() + 30
            while any(map(_catches_sigterm, workers)) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not any(_catches_sigterm(pid) for pid in workers)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _catches_sigterm(pid: int) -> bool:
    """Whether the process has a handler of its own for SIGTERM (the kernel's SigCgt mask)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    raise AssertionError(f"no SigCgt line for process {pid}")
