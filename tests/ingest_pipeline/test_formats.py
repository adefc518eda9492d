"""CSV, JSONL and X12 837 through the same job, chunk and result path on real workers."""

from __future__ import annotations

import json
from pathlib import Path

from tests.clitools import cli
from tests.conftest import PipelineEnv
from tests.ingest_pipeline.helpers import X12_837I, X12_837P, csv_rows


def _submit_wait(env: PipelineEnv, *args: str) -> str:
    done = cli(env, "submit", *args, "--wait")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_x12_837p_end_to_end_with_claim_ids_and_by_claim(pipeline: PipelineEnv) -> None:
    pipeline.start_worker()
    job_id = _submit_wait(pipeline, str(X12_837P))
    results = cli(pipeline, "results", job_id)
    assert results.returncode == 0, results.stderr
    rows = csv_rows(results.stdout)
    # 7 diagnoses in three claims; procedure/anesthesia/condition composites are not lines.
    assert [r["id"] for r in rows] == [
        "PATIENT1-CLM:1", "PATIENT1-CLM:2", "PATIENT1-CLM:3", "PATIENT1-CLM:4",
        "PATIENT2-CLM:1", "PATIENT2-CLM:2", "PATIENT3-CLM:1"]
    assert [r["claim_id"] for r in rows] == ["PATIENT1-CLM"] * 4 + ["PATIENT2-CLM"] * 2 + [
        "PATIENT3-CLM"]
    assert [r["principal"] for r in rows] == ["Y", "N", "N", "N", "Y", "N", "Y"]
    assert [r["qualifier"] for r in rows] == ["ABK", "ABF", "ABF", "ABF", "BK", "BF", "ABK"]
    assert rows[0]["status"] == "resolved" and rows[0]["code"] == "E11.9"
    assert rows[1]["code"] == "I10"
    # ICD-9-CM qualifiers go through the GEMs: 250.00 -> E11.9 (diabetes without complication).
    assert rows[4]["code"] == "E11.9"

    by_claim = cli(pipeline, "results", job_id, "--by-claim")
    assert by_claim.returncode == 0, by_claim.stderr
    claims = csv_rows(by_claim.stdout)
    assert list(claims[0]) == ["claim_id", "lines", "statuses", "codes", "principal_code",
                               "flags", "edits"]
    assert [c["claim_id"] for c in claims] == ["PATIENT1-CLM", "PATIENT2-CLM", "PATIENT3-CLM"]
    assert [c["lines"] for c in claims] == ["4", "2", "1"]
    first = claims[0]
    assert first["codes"].split("|")[:2] == ["E11.9", "I10"]
    assert first["principal_code"] == "E11.9"
    assert len(first["statuses"].split("|")) == 4
    for claim in claims:
        flagged = {s for s in claim["statuses"].split("|") if s != "resolved"}
        assert set(filter(None, claim["flags"].split("|"))) == flagged


def test_x12_837i_runs_embedded_the_same_way(pipeline: PipelineEnv, tmp_path: Path) -> None:
    out = tmp_path / "837i.csv"
    done = cli(pipeline, "run", str(X12_837I), "-o", str(out), "--quiet", "--processes", "1")
    assert done.returncode == 0, done.stderr
    rows = csv_rows(out.read_text())
    assert {r["claim_id"] for r in rows} == {"756048Q", "LEGACY-ICD9"}
    assert all(r["id"].startswith(r["claim_id"] + ":") for r in rows)
    assert "poa" in rows[0]  # present-on-admission passes through (837I)


def test_jsonl_with_varying_keys_keeps_every_pass_through_column(pipeline: PipelineEnv,
                                                                 tmp_path: Path) -> None:
    source = tmp_path / "claims.jsonl"
    lines = [
        {"id": "C1", "term": "E11.9", "date_of_service": "2025-03-01"},
        {"id": "C1", "term": "I10", "date_of_service": "2025-03-01", "payer": "AETNA"},
        {"id": "C2", "term": "=cmd|' /C calc'!A0", "member": "M-1"},
        {"id": "C1", "term": "J44.9", "date_of_service": "2025-03-01"},
    ]
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n{broken\n")
    pipeline.start_worker()
    job_id = _submit_wait(pipeline, str(source))
    rows = csv_rows(cli(pipeline, "results", job_id).stdout)
    assert len(rows) == 5  # N lines in, N results out, the broken one included
    assert {"payer", "member"} <= set(rows[0])
    assert rows[1]["payer"] == "AETNA" and rows[2]["member"] == "M-1"
    assert rows[2]["input"].startswith("'=")  # safe to open in a spreadsheet
    assert rows[4]["status"] == "invalid_input" and "line 5" in rows[4]["message"]

    claims = csv_rows(cli(pipeline, "results", job_id, "--by-claim").stdout)
    # Lines of one id are gathered wherever they are; a line without an id stands alone.
    assert [(c["claim_id"], c["lines"]) for c in claims] == [("C1", "3"), ("C2", "1"),
                                                            ("", "1")]
    assert claims[0]["codes"] == "E11.9|I10|J44.9" and claims[0]["principal_code"] == "E11.9"
    assert claims[2]["flags"] == "invalid_input"


def test_csv_with_named_columns_and_pass_through(pipeline: PipelineEnv, tmp_path: Path) -> None:
    source = tmp_path / "export.csv"
    source.write_text("Claim No|Dx Text|Svc Date|Payer\nA1|E11.9|20250301|BCBS\n"
                      "A2|hypertension|03/02/2025|AETNA\n", encoding="utf-8")
    pipeline.start_worker()
    job_id = _submit_wait(pipeline, str(source), "--term-column", "Dx Text", "--id-column",
                          "Claim No", "--dos-column", "Svc Date")
    rows = csv_rows(cli(pipeline, "results", job_id).stdout)
    assert [(r["id"], r["code"], r["Payer"]) for r in rows] == [("A1", "E11.9", "BCBS"),
                                                                ("A2", "I10", "AETNA")]
