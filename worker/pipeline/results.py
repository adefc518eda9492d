"""Collect a job's results: one row per input line, in input order, streamed to CSV or JSONL."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import IO, Any

from sqlalchemy import String, case, cast, func, literal, select

from worker import contract, db
from worker.models import InputLine
from worker.models import Result as ResultRow
from worker.pipeline.jobs import get_job

# A cell starting with one of these is run as a formula by spreadsheet programs (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_STREAM_BATCH = 5000


def spreadsheet_safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def iter_results(job_id: str) -> Iterator[dict[str, Any]]:
    """Result rows joined with each line's pass-through columns, in line order, batch by batch."""
    with db.session_scope() as session:
        job = get_job(session, job_id)
        last = 0
        while True:
            rows = session.execute(
                select(ResultRow, InputLine.extra)
                .join(InputLine, (InputLine.job_id == ResultRow.job_id)
                      & (InputLine.line_no == ResultRow.line_no))
                .where(ResultRow.job_id == job.id, ResultRow.line_no > last)
                .order_by(ResultRow.line_no).limit(_STREAM_BATCH)).all()
            if not rows:
                return
            for result, extra in rows:
                record = {
                    "line_no": result.line_no, "id": result.entry_id, "input": result.input,
                    "status": result.status, "code": result.code,
                    "description": result.description, "method": result.method,
                    "confidence": round(result.confidence, 4), "code_set": result.code_set,
                    "alternatives": result.alternatives, "message": result.message,
                }
                if extra:
                    record["extra"] = json.loads(extra)
                yield record
            last = rows[-1][0].line_no
            session.expunge_all()


def write_results(job_id: str, out: IO[str], fmt: str = "csv") -> int:
    """Write every result of the job; pass-through columns follow the contract's columns."""
    count = 0
    if fmt == "jsonl":
        for record in iter_results(job_id):
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
        return count
    fields = list(contract.RESULT_FIELDS) + [k for k in extra_columns(job_id)
                                             if k not in contract.RESULT_FIELDS]
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for record in iter_results(job_id):
        extra = record.pop("extra", None) or {}
        record.update({k: v for k, v in extra.items() if k not in contract.RESULT_FIELDS})
        writer.writerow({k: spreadsheet_safe(v) for k, v in record.items()})
        count += 1
    return count


def extra_columns(job_id: str) -> list[str]:
    """Pass-through column names in order of first appearance.

    A CSV's header fixes them, so its first line with any says all; JSONL keys and X12's optional
    `poa` vary by line, so those jobs are read to the end (names only, batch by batch).
    """
    names: dict[str, None] = {}
    with db.session_scope() as session:
        job = get_job(session, job_id)
        last = 0
        while True:
            rows = session.execute(
                select(InputLine.line_no, InputLine.extra)
                .where(InputLine.job_id == job.id, InputLine.line_no > last, InputLine.extra != "")
                .order_by(InputLine.line_no).limit(_STREAM_BATCH)).all()
            for _, extra in rows:
                names.update(dict.fromkeys(json.loads(extra)))
            if not rows or (job.format == "csv" and names):
                return list(names)
            last = rows[-1][0]


CLAIM_FIELDS = ("claim_id", "lines", "statuses", "codes", "principal_code", "flags")
# Statuses a person must look at, in the order the `flags` column lists them.
_FLAGGED = (contract.NEEDS_REVIEW, contract.NO_MATCH, contract.INVALID_INPUT, contract.ERROR)


def iter_claims(job_id: str) -> Iterator[dict[str, Any]]:
    """One record per claim: its lines' statuses and codes in position order, `|`-joined.

    X12: the claim is CLM01 (the id before ':'), its lines are contiguous in the file, and the
    principal code is the ABK/BK diagnosis. CSV/JSONL: the id column names the claim, lines of one
    id are gathered wherever they are (first appearance order), the principal is the first line;
    a line without an id is a claim of its own. Streamed: memory holds one claim at a time.
    """
    with db.session_scope() as session:
        job = get_job(session, job_id)
        x12 = job.format == "x12"
        key = case((ResultRow.entry_id == "", literal(" #") + cast(ResultRow.line_no, String)),
                   else_=ResultRow.entry_id)
        order = [ResultRow.line_no] if x12 else [
            func.min(ResultRow.line_no).over(partition_by=key), ResultRow.line_no]
        rows = session.execute(
            select(ResultRow.line_no, ResultRow.entry_id, ResultRow.status, ResultRow.code,
                   InputLine.extra, key)
            .join(InputLine, (InputLine.job_id == ResultRow.job_id)
                  & (InputLine.line_no == ResultRow.line_no))
            .where(ResultRow.job_id == job.id).order_by(*order)
            .execution_options(yield_per=_STREAM_BATCH))
        group: list[tuple[str, str, bool]] = []
        current: tuple[str, str] | None = None  # (grouping key, claim id shown)
        for _, entry_id, status, code, extra_text, sort_key in rows:
            extra = json.loads(extra_text) if extra_text else {}
            if x12:
                claim = extra.get("claim_id", entry_id.rsplit(":", 1)[0])
                this = (claim, claim)
            else:
                this = (sort_key, entry_id)
            if current is not None and this != current:
                yield _claim_record(current[1], group)
                group = []
            current = this
            group.append((status, code, extra.get("principal") == "Y"))
        if current is not None:
            yield _claim_record(current[1], group)


def _claim_record(claim_id: str, lines: list[tuple[str, str, bool]]) -> dict[str, Any]:
    principal = next((code for _, code, is_principal in lines if is_principal), lines[0][1])
    present = {status for status, _, _ in lines}
    return {"claim_id": claim_id, "lines": len(lines),
            "statuses": "|".join(status for status, _, _ in lines),
            "codes": "|".join(code for _, code, _ in lines), "principal_code": principal,
            "flags": "|".join(status for status in _FLAGGED if status in present)}


def write_claim_results(job_id: str, out: IO[str], fmt: str = "csv") -> int:
    """One row per claim (see iter_claims); CSV cells are made safe for spreadsheets."""
    count = 0
    writer = csv.DictWriter(out, fieldnames=CLAIM_FIELDS, lineterminator="\n")
    if fmt == "csv":
        writer.writeheader()
    for record in iter_claims(job_id):
        if fmt == "jsonl":
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            writer.writerow({k: spreadsheet_safe(v) for k, v in record.items()})
        count += 1
    return count
