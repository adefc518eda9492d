"""Collect a job's results: one row per input line, in input order, streamed to CSV or JSONL."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import IO, Any

from sqlalchemy import select

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
    writer: csv.DictWriter[str] | None = None
    for record in iter_results(job_id):
        extra = record.pop("extra", None) or {}
        if writer is None:
            # Extra columns are fixed by the file's header, so the first row names them all.
            fields = list(contract.RESULT_FIELDS) + [k for k in extra if k not in
                                                     contract.RESULT_FIELDS]
            writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore",
                                    lineterminator="\n")
            writer.writeheader()
        record.update({k: v for k, v in extra.items() if k not in contract.RESULT_FIELDS})
        writer.writerow({k: spreadsheet_safe(v) for k, v in record.items()})
        count += 1
    if writer is None:
        csv.writer(out, lineterminator="\n").writerow(contract.RESULT_FIELDS)
    return count
