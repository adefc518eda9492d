"""A recoding run's changes as CSV: one row per changed line, from result_history."""

from __future__ import annotations

from typing import TextIO

from sqlalchemy import select

from worker import db
from worker.csvcells import SafeWriter
from worker.models import ResultHistory

COLUMNS = ("job_id", "line_no", "change", "old_status", "old_code", "old_code_set",
           "old_method", "new_status", "new_code", "new_code_set", "new_method",
           "new_alternatives")


def write_report(run_id: str, out: TextIO, batch: int = 5000) -> int:
    """Stream the run's changes in job and line order; returns how many rows were written.

    Codes, releases and methods only: the diagnosis text stays in the results.
    """
    writer = SafeWriter(out)
    writer.writerow(COLUMNS)
    columns = [getattr(ResultHistory, name) for name in COLUMNS]
    count = 0
    with db.session_scope() as session:
        rows = session.execute(
            select(*columns).where(ResultHistory.run_id == run_id)
            .order_by(ResultHistory.job_id, ResultHistory.line_no)
            .execution_options(stream_results=True, yield_per=batch))
        for row in rows:
            writer.writerow(row)
            count += 1
    return count
