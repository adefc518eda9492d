"""Baseline for the benchmark: the per-line design (one Celery task and one query per line).

Not part of dxcoder; it exists to measure what the chunked design saves.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from celery import Celery

app = Celery("perline", broker=os.environ["BENCH_BROKER"])
app.conf.update(accept_content=["json"], task_acks_late=True, worker_prefetch_multiplier=1,
                worker_hijack_root_logger=False, task_ignore_result=True)
_engine: sa.Engine | None = None


def engine() -> sa.Engine:
    global _engine
    if _engine is None:
        _engine = sa.create_engine(os.environ["BENCH_DATABASE_URL"], pool_size=2)
    return _engine


@app.task(name="bench.resolve_line")
def resolve_line(run: str, line_no: int, term: str) -> None:
    """Look one code up and write one result row: the design dxcoder does not use."""
    code = term.strip().upper().replace(".", "")
    dotted = code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"
    with engine().begin() as conn:
        row = conn.execute(sa.text(
            "SELECT c.code, c.title FROM code c JOIN code_set_release r ON r.id = c.release_id "
            "WHERE r.label = 'FY2026' AND c.code = :code"), {"code": dotted}).first()
        conn.execute(sa.text("INSERT INTO bench_perline (run, line_no, code, title) "
                             "VALUES (:run, :line, :code, :title)"),
                     {"run": run, "line": line_no, "code": row[0] if row else "",
                      "title": row[1] if row else ""})
