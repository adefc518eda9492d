"""Claims, not just lines: a job's lines grouped by claim, `results --by-claim`, claim edits."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import IO, Any, NamedTuple

from sqlalchemy import String, case, cast, func, literal, select

from worker import contract, db
from worker.csvcells import SafeWriter
from worker.models import InputLine
from worker.models import Result as ResultRow
from worker.pipeline.jobs import get_job

_STREAM_BATCH = 5000

CLAIM_FIELDS = ("claim_id", "lines", "statuses", "codes", "principal_code", "flags", "edits")
# Statuses a person must look at, in the order the `flags` column lists them.
_FLAGGED = (contract.NEEDS_REVIEW, contract.NO_MATCH, contract.INVALID_INPUT, contract.ERROR)


class ClaimLine(NamedTuple):
    """One diagnosis line of a claim, as claim edits and `--by-claim` read it (a tuple: the
    chunks make one per line of every job)."""

    line_no: int
    status: str
    code: str
    code_set: str
    principal: bool


# The producer writes `extra` as json.dumps of a str -> str dict: a key is followed by `": "`
# and its value, and a quote inside a value is escaped, so these cannot match inside a value.
_CLAIM_ID = re.compile(r'"claim_id": "([^"\\]*)"')
_PRINCIPAL = re.compile(r'"principal": "([^"\\]*)"')


def claim_cells(extra_text: str | None) -> dict[str, Any]:
    """The pass-through cells that name a claim (`claim_id`, `principal`), as json.loads
    would give them; a line's other cells are not decoded (a regular expression per line
    instead of a JSON parse: this runs on every line of a job)."""
    if not extra_text or ('"claim_id"' not in extra_text and '"principal"' not in extra_text):
        return {}
    if "\\" in extra_text:  # an escape somewhere: decode properly
        found = json.loads(extra_text)
        return found if isinstance(found, dict) else {}
    out: dict[str, Any] = {}
    for name, pattern in (("claim_id", _CLAIM_ID), ("principal", _PRINCIPAL)):
        if f'"{name}"' not in extra_text:
            continue
        match = pattern.search(extra_text)
        if match is not None:
            out[name] = match.group(1)
        else:  # written some other way: decode properly
            found = json.loads(extra_text)
            return found if isinstance(found, dict) else {}
    return out


def iter_claim_lines(job_id: str) -> Iterator[tuple[str, list[ClaimLine]]]:
    """(claim id, its lines in position order) for each claim of a job.

    X12: the claim is CLM01 (the id before ':'), its lines are contiguous in the file, and the
    principal code is the ABK/BK diagnosis. CSV/JSONL: the id column names the claim, lines of one
    id are gathered wherever they are (first appearance order), the principal is the first line;
    a line without an id is a claim of its own. Streamed: memory holds one claim at a time,
    except with a claim_id column, whose claims are gathered in memory (their lines can be
    anywhere in the file).
    """
    with db.session_scope() as session:
        job = get_job(session, job_id)
        x12 = job.format == "x12"
        # A claim_id column groups in Python below; the lines then come in file order.
        first_extra = session.scalar(select(InputLine.extra).where(InputLine.job_id == job.id)
                                     .order_by(InputLine.line_no).limit(1)) or ""
        in_file_order = x12 or '"claim_id"' in first_extra
        key = case((ResultRow.entry_id == "", literal(" #") + cast(ResultRow.line_no, String)),
                   else_=ResultRow.entry_id)
        order = [ResultRow.line_no] if in_file_order else [
            func.min(ResultRow.line_no).over(partition_by=key), ResultRow.line_no]
        rows = session.execute(
            select(ResultRow.line_no, ResultRow.entry_id, ResultRow.status, ResultRow.code,
                   ResultRow.code_set, InputLine.extra, key)
            .join(InputLine, (InputLine.job_id == ResultRow.job_id)
                  & (InputLine.line_no == ResultRow.line_no))
            .where(ResultRow.job_id == job.id).order_by(*order)
            .execution_options(yield_per=_STREAM_BATCH))
        group: list[ClaimLine] = []
        current: tuple[str, str] | None = None  # (grouping key, claim id shown)
        # A claim_id column (CSV, JSONL) names the claim where the id column names the line;
        # its lines can be anywhere in the file, so they are gathered here (first appearance).
        by_column: dict[str, list[ClaimLine]] | None = None
        for line_no, entry_id, status, code, code_set, extra_text, sort_key in rows:
            extra = claim_cells(extra_text)
            if not x12 and (by_column is not None or extra.get("claim_id")):
                by_column = {} if by_column is None else by_column
                claim = str(extra.get("claim_id") or f" #{line_no}")
                by_column.setdefault(claim, []).append(ClaimLine(
                    line_no, status, code, code_set or "", extra.get("principal") == "Y"))
                continue
            if x12:
                claim = extra.get("claim_id", entry_id.rsplit(":", 1)[0])
                this = (claim, claim)
            else:
                this = (sort_key, entry_id)
            if current is not None and this != current:
                yield current[1], group
                group = []
            current = this
            group.append(ClaimLine(line_no, status, code, code_set or "",
                                   extra.get("principal") == "Y"))
        if current is not None:
            yield current[1], group
        for claim, lines in (by_column or {}).items():
            yield ("" if claim.startswith(" #") else claim), lines


def iter_claims(job_id: str) -> Iterator[dict[str, Any]]:
    """One record per claim (iter_claim_lines): its lines' statuses and codes, `|`-joined, and
    its edits as `edit:codes` (worker.pipeline.edits), `|`-joined."""
    from worker.pipeline import edits  # edits reads claims through this module

    checker = edits.ClaimChecker.from_database()
    for claim_id, lines in iter_claim_lines(job_id):
        record = _claim_record(claim_id, lines)
        record["edits"] = "|".join(f"{e.edit}:{e.codes.replace('|', '+')}" if e.codes else e.edit
                                   for e in checker.check(claim_id, lines))
        yield record


def _claim_record(claim_id: str, lines: list[ClaimLine]) -> dict[str, Any]:
    principal = next((line.code for line in lines if line.principal), lines[0].code)
    present = {line.status for line in lines}
    return {"claim_id": claim_id, "lines": len(lines),
            "statuses": "|".join(line.status for line in lines),
            "codes": "|".join(line.code for line in lines), "principal_code": principal,
            "flags": "|".join(status for status in _FLAGGED if status in present)}


def write_claim_results(job_id: str, out: IO[str], fmt: str = "csv") -> int:
    """One row per claim (see iter_claims); CSV cells are made safe for spreadsheets."""
    count = 0
    writer = SafeWriter(out)
    if fmt == "csv":
        writer.writerow(CLAIM_FIELDS)
    for record in iter_claims(job_id):
        if fmt == "jsonl":
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            writer.writerow([record[name] for name in CLAIM_FIELDS])
        count += 1
    return count
