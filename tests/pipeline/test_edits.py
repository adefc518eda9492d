"""Claim-level edits on hand-made claims: each edit where the tabular's notes call for it, and
clean claims with none, through a real worker (PostgreSQL) and the embedded run (SQLite)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from tests.clitools import cli, run_dxcoder
from tests.conftest import PipelineEnv
from worker import db
from worker.models import Chunk, Job, TaskMetric

DOS = "2026-01-10"
CLAIMS = {
    # clean: E11.621's "use additional code to identify site of ulcer (L97.4-, L97.5-)" is met,
    # and L97's "code first ... diabetic ulcers (E11.621 ...)" too.
    "CLEAN1": ["E11.621", "L97.409"],
    # clean: the underlying disease (amyloidosis, E85.-) first, the manifestation after it.
    "CLEAN2": ["E85.9", "G63"],
    # clean: category notes (J45: tobacco exposure) are not asked of every claim.
    "CLEAN3": ["R05.9", "J45.909"],
    # E11's Excludes1 names postpancreatectomy diabetes (E13.-).
    "EXCL": ["E11.9", "E13.9"],
    # G63 polyneuropathy "in diseases classified elsewhere" listed first, no underlying disease.
    "MANIF": ["G63", "I10"],
    # E11.621 without a code for the ulcer's site.
    "ADDL": ["E11.621"],
    # the same code twice, and a line with no code.
    "DUP": ["I10", "I10", "banana smoothie"],
}


def _claims_csv(path: Path) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["claim_id", "term", "date_of_service"])
        for claim_id, codes in CLAIMS.items():
            for code in codes:
                writer.writerow([claim_id, code, DOS])
    return path


def _edits(text: str) -> dict[str, list[tuple[str, str, str]]]:
    out: dict[str, list[tuple[str, str, str]]] = {claim: [] for claim in CLAIMS}
    for row in csv.DictReader(io.StringIO(text)):
        out[row["claim_id"]].append((row["edit"], row["codes"], row["severity"]))
    return out


EXPECTED = {
    "CLEAN1": [], "CLEAN2": [], "CLEAN3": [],
    "EXCL": [("excludes1", "E11.9|E13.9", "error")],
    "MANIF": [("code_first", "G63", "error"), ("code_first", "G63", "error")],
    "ADDL": [("use_additional", "E11.621", "warning")],
    "DUP": [("not_coded", "", "warning"), ("duplicate", "I10", "warning")],
}


def _check(edits_csv: str, by_claim_csv: str) -> None:
    assert _edits(edits_csv) == EXPECTED
    rows = list(csv.DictReader(io.StringIO(edits_csv)))
    excludes = next(r for r in rows if r["edit"] == "excludes1")
    assert "Excludes1 at E11: postpancreatectomy diabetes mellitus (E13.-)" in excludes["message"]
    first = next(r for r in rows if r["claim_id"] == "MANIF")
    assert "manifestation code" in first["message"] and "listed first" in first["message"]
    dup = next(r for r in rows if r["edit"] == "not_coded")
    assert dup["message"].startswith("1 of 3 lines have no code valid on the date of service")
    claims = {r["claim_id"]: r["edits"] for r in csv.DictReader(io.StringIO(by_claim_csv))}
    assert claims["CLEAN1"] == "" and claims["EXCL"] == "excludes1:E11.9+E13.9"
    assert claims["DUP"] == "not_coded|duplicate:I10"


def test_edits_of_a_distributed_job(pipeline: PipelineEnv, tmp_path: Path) -> None:
    pipeline.start_worker()
    done = cli(pipeline, "submit", str(_claims_csv(tmp_path / "claims.csv")), "--wait")
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip().splitlines()[-1]
    edits = cli(pipeline, "edits", job_id)
    assert edits.returncode == 0, edits.stderr
    _check(edits.stdout, cli(pipeline, "results", job_id, "--by-claim").stdout)
    # The task that finished the job counted its edits, in its metrics and the job's summary.
    counts = {"excludes1": 1, "code_first": 2, "use_additional": 1, "duplicate": 1,
              "not_coded": 1, "error": 3, "warning": 3}
    with db.session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.summary is not None
        assert job.summary["edits"] == counts
        records = [m.record for m in session.scalars(
            select(TaskMetric).where(TaskMetric.job_id == job_id))]
    assert [r["edits"] for r in records if r["job_finished"]] == [counts]


def test_edits_of_an_embedded_run_to_a_file(sqlite_url: str, tmp_path: Path) -> None:
    source = _claims_csv(tmp_path / "claims.csv")
    done = run_dxcoder("run", str(source), "-o", str(tmp_path / "out.csv"), "--quiet",
                       database_url=sqlite_url, data_dir=tmp_path)
    assert done.returncode in (0, 1), done.stderr
    jobs = run_dxcoder("jobs", database_url=sqlite_url, data_dir=tmp_path)
    job_id = jobs.stdout.split()[0]
    out = tmp_path / "edits.csv"
    written = run_dxcoder("edits", job_id, "-o", str(out), database_url=sqlite_url,
                          data_dir=tmp_path)
    assert written.returncode == 0, written.stderr
    assert written.stderr.strip() == f"6 edits -> {out}"
    by_claim = run_dxcoder("results", job_id, "--by-claim", database_url=sqlite_url,
                           data_dir=tmp_path)
    _check(out.read_text(), by_claim.stdout)


@pytest.mark.parametrize("reference", ["E08-E13 with .42", "T36-T50 with fifth or sixth character 5"])
def test_note_references_with_conditions_become_ranges(reference: str) -> None:
    from worker.codesets.notes import parse_group

    ranges = parse_group(reference)
    assert ranges is not None and len(ranges) == 1
    if ".42" in reference:
        assert ranges[0].covers("E11.42") and ranges[0].covers("E08.42")
        assert not ranges[0].covers("E11.41") and not ranges[0].covers("E14.42")
    else:
        assert ranges[0].covers("T38.3X5A") and ranges[0].covers("T36.0X5A")
        assert not ranges[0].covers("T38.3X1A") and not ranges[0].covers("T51.0X5A")


def test_the_nightly_recoding_reruns_the_edits(pipeline: PipelineEnv, tmp_path: Path) -> None:
    from worker.models import Override
    from worker.resolver.normalize import text_key

    source = tmp_path / "claims.csv"
    unknown = "Zzqx flurbonic syndrome"
    source.write_text(f"claim_id,term,date_of_service\nR1,E11.9,{DOS}\nR1,{unknown},{DOS}\n")
    pipeline.start_worker()
    done = cli(pipeline, "submit", str(source), "--wait")
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip().splitlines()[-1]
    assert _edits_of(job_id) == {"not_coded": 1, "warning": 1}
    # A reviewer approves a mapping for the unknown entry: the recoding resolves the line, and
    # the claim now holds E11.9 with E13.9, which E11's Excludes1 names.
    with db.session_scope() as session:
        session.add(Override(term_key=text_key(unknown), term=unknown, code="E13.9"))
    recode = cli(pipeline, "recode", "run", "--wait")
    assert recode.returncode == 0, recode.stderr
    assert _edits_of(job_id) == {"excludes1": 1, "error": 1}
    edits = csv.DictReader(io.StringIO(cli(pipeline, "edits", job_id).stdout))
    assert [(r["claim_id"], r["edit"], r["codes"]) for r in edits] == [
        ("R1", "excludes1", "E11.9|E13.9")]


def _edits_of(job_id: str) -> dict[str, int]:
    with db.session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.summary is not None
        return dict(job.summary["edits"])


COUNTS = {"excludes1": 1, "code_first": 2, "use_additional": 1, "duplicate": 1, "not_coded": 1,
          "error": 3, "warning": 3}


def _layout_csv(path: Path, scattered: bool) -> Path:
    """CLAIMS, each claim's lines together, or dealt out round-robin over the file."""
    rows = [(claim_id, code) for claim_id, codes in CLAIMS.items() for code in codes]
    if scattered:
        rows = sorted(rows, key=lambda row: [r for r in rows if r[0] == row[0]].index(row))
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["claim_id", "term", "date_of_service"])
        writer.writerows((claim_id, code, DOS) for claim_id, code in rows)
    return path


def test_claims_across_chunk_boundaries_count_once(pipeline: PipelineEnv, tmp_path: Path) -> None:
    # Two-line chunks: EXCL, MANIF and DUP cross chunk boundaries. Each chunk checks its inner
    # claims, the finishing task the ones across boundaries; the counts are the whole job's.
    pipeline.start_worker()
    done = cli(pipeline, "submit", str(_layout_csv(tmp_path / "claims.csv", False)), "--wait",
               chunk_size=2)
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip().splitlines()[-1]
    assert _edits_of(job_id) == COUNTS
    with db.session_scope() as session:
        checked = session.scalars(select(Chunk.claim_edits).where(Chunk.job_id == job_id)).all()
    assert len(checked) == 7 and all(checked)  # every chunk checked its own claims
    assert _edits(cli(pipeline, "edits", job_id).stdout) == EXPECTED


@pytest.mark.parametrize("scattered", [False, True], ids=["together", "scattered"])
def test_embedded_claim_edit_counts_whatever_the_layout(sqlite_url: str, tmp_path: Path,
                                                        scattered: bool) -> None:
    # Scattered claims cannot be summed from the chunks: the job is checked whole instead.
    source = _layout_csv(tmp_path / "claims.csv", scattered)
    done = run_dxcoder("run", str(source), "-o", str(tmp_path / "out.csv"), "--quiet",
                       database_url=sqlite_url, data_dir=tmp_path,
                       env={"DXCODER_RUN_CHUNK_SIZE": "2"})
    assert done.returncode in (0, 1), done.stderr
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as connection:
        summary = connection.execute(select(Job.summary)).scalar_one()
        chunks = connection.execute(select(Chunk.claim_edits)).scalars().all()
    engine.dispose()
    assert summary["edits"] == COUNTS
    assert len(chunks) == 7
    assert all(chunks) if not scattered else not any(chunks)


def test_claim_cells_are_read_from_staged_json_as_json_would_read_them() -> None:
    # The chunks read `claim_id` and `principal` out of each line's staged pass-through JSON
    # without parsing all of it; quotes, backslashes and look-alike keys must not fool that.
    import json
    import random

    from worker.pipeline.claims import claim_cells
    from worker.pipeline.producer import _EXTRA_JSON

    rng = random.Random(7)
    alphabet = 'ab"\\, :{}é\n'
    for _ in range(5000):
        names = rng.sample(["claim_id", "principal", "payer", "x claim_id", 'q"principal'],
                           rng.randint(0, 4))
        extra = {name: "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
                 for name in names}
        staged = _EXTRA_JSON.encode(extra)
        wanted = {k: v for k, v in json.loads(staged).items() if k in ("claim_id", "principal")}
        got = {k: v for k, v in claim_cells(staged).items() if k in ("claim_id", "principal")}
        assert got == wanted, staged
