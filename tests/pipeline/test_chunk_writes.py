"""A chunk's results as stored: exactly the fields resolved, once, whatever the text holds."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from worker import contract, db
from worker.models import Result as ResultRow
from worker.pipeline import chunks

# Fields as contract.RESULT_FIELDS orders them: quotes, commas, line breaks and text that is not
# ASCII in every text field, numbers a CSV writer could round, an empty id, lines whose fields
# from the input on repeat (the PostgreSQL writer reuses their COPY text) and one that differs
# from another in its message alone; dates of service, or none.
RESULTS: list[tuple[Any, ...]] = [
    (1, "C1", "E11.9", "resolved", "E11.9", "Type 2 diabetes mellitus without complications",
     "code_exact", 1.0, "FY2026", "", "", dt.date(2025, 3, 1)),
    (2, 'C"2', 'a "quoted", term', "needs_review", "", "", "fuzzy", 1 / 3, "FY2026",
     'I10|E11.9', 'two "close" candidates, one line', dt.date(2025, 3, 2)),
    (3, "C\n3", "line\nbreak", "no_match", "", "", "", 0.0, "FY2026", "", "nothing\r\nclose",
     dt.date(2015, 10, 1)),
    (4, "", "naïve café ✓", "resolved", "R69", "Illness, unspecified ✓", "synonym", 0.123456789,
     "FY2025", "", "", None),
    (5, "C5", "E11.9", "resolved", "E11.9", "Type 2 diabetes mellitus without complications",
     "code_exact", 1.0, "FY2026", "", "", dt.date(2025, 3, 4)),
    (6, "=C6", 'a "quoted", term', "needs_review", "", "", "fuzzy", 1 / 3, "FY2026",
     'I10|E11.9', 'two "close" candidates, one line', dt.date(2025, 3, 5)),
    (7, "C7", "E11.9", "resolved", "E11.9", "Type 2 diabetes mellitus without complications",
     "code_exact", 1.0, "FY2026", "", "differs from line 1 in its message alone", None),
]


def _stored(job_id: str) -> list[tuple[Any, ...]]:
    with db.session_scope() as session:
        rows = session.execute(select(
            ResultRow.line_no, ResultRow.entry_id, ResultRow.input, ResultRow.status,
            ResultRow.code, ResultRow.description, ResultRow.method, ResultRow.confidence,
            ResultRow.code_set, ResultRow.alternatives, ResultRow.message,
            ResultRow.date_of_service)
            .where(ResultRow.job_id == job_id).order_by(ResultRow.line_no)).all()
    return [tuple(row) for row in rows]


def test_results_are_stored_as_resolved_and_a_second_write_changes_nothing(
        any_db_url: str) -> None:
    assert contract.RESULT_FIELDS[:4] == ("line_no", "id", "input", "status")
    with db.session_scope() as session:
        assert chunks.insert_results(session, "writejob0001", RESULTS) == len(RESULTS)
    assert _stored("writejob0001") == RESULTS

    # The same lines again (a redelivered chunk, resolved differently): nothing is written.
    again = [(*result[:5], "changed", *result[6:]) for result in RESULTS]
    with db.session_scope() as session:
        assert chunks.insert_results(session, "writejob0001", again) == 0
    assert _stored("writejob0001") == RESULTS

    # Another job with the same results: its own rows, the reused text notwithstanding.
    with db.session_scope() as session:
        assert chunks.insert_results(session, "writejob0002", RESULTS[::-1]) == len(RESULTS)
    assert _stored("writejob0002") == RESULTS
    with db.session_scope() as session:
        times = session.execute(select(ResultRow.job_id, ResultRow.resolved_at)
                                .distinct()).all()
    assert sorted(job for job, _ in times) == ["writejob0001", "writejob0002"]
    assert all(when is not None for _, when in times)
