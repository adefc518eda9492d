"""Check a sheet's decisions against the job's lines: every problem named by file and row.

A decision is one of the row's candidates (as the sheet shows it, or just its code), any
billable code of the release the lines were resolved on, several codes `+`-joined, or
`no_match`. It must hold for every line of the entry: a code billable in FY2026 but not in
FY2025 is refused for an entry whose lines include dates of service FY2025 covers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.codesets import catalog
from worker.contract import NEEDS_REVIEW, NO_MATCH
from worker.errors import JobError
from worker.models import Code, CodeSetRelease
from worker.pipeline.jobs import get_job
from worker.resolver.normalize import code_candidate, dotted, icd10_flat, text_key
from worker.review.queue import QueueEntry, QueueLine, group, read_lines
from worker.review.sheet import NO_MATCH_CHOICE, SheetRow

MAX_ENTRY_KEY = 1000  # override.term_key


@dataclasses.dataclass(slots=True)
class Decision:
    """One entry's decision, checked: the codes (empty: no_match) and per release their titles."""

    row: int
    key: str
    entry: str
    codes: tuple[str, ...]
    note: str
    lines: list[QueueLine]
    titles: dict[str, str]  # release label -> the codes' titles, `; `-joined

    @property
    def decision(self) -> str:
        return "+".join(self.codes) if self.codes else NO_MATCH_CHOICE


@dataclasses.dataclass(slots=True)
class Plan:
    job_id: str
    decisions: list[Decision]
    problems: list[str]  # "FILE: row N: what is wrong"


def parse_decision(text: str) -> tuple[str, ...] | str:
    """The dotted codes a decision names (empty: no_match), or what is wrong with it."""
    first = text.strip().split()[0] if text.strip() else ""
    if first.lower() in (NO_MATCH_CHOICE, "no-match", "nomatch") or \
            text.strip().lower() == "no match":
        return ()
    parts = [part.strip() for part in first.split("+")]
    codes = []
    for part in parts:
        compact = code_candidate(part) if part else None
        flat = icd10_flat(compact) if compact else None
        if flat is None:
            return (f"{text.strip()[:40]!r} is not an ICD-10-CM code, `+`-joined codes or "
                    f"{NO_MATCH_CHOICE}")
        codes.append(dotted(flat))
    return tuple(codes)


def _label_of(line: QueueLine, releases: list[CodeSetRelease]) -> str:
    return line.code_set or catalog.release_in_force(releases, line.date_of_service).label


def plan(session: Session, source: str, rows: Sequence[SheetRow], *, job_id: str | None = None,
         include_no_match: bool = True) -> Plan:
    """Check every row of a sheet; the plan holds the decisions that passed and every problem.

    `job_id`: the job the caller means (None: the one the sheet names).
    """
    problems: list[str] = []

    def problem(row: int, what: str) -> None:
        problems.append(f"{source}: row {row}: {what}")

    named = {r.job for r in rows if r.job}
    if job_id is None:
        if len(named) != 1:
            what = ("no row names its job (the `job` column)" if not named else
                    f"the rows name {len(named)} jobs ({', '.join(sorted(named))}); "
                    "a sheet is one job's")
            return Plan("", [], [f"{source}: row 2: {what}"])
        job_id = next(iter(named))
    try:
        job = get_job(session, job_id)
    except JobError as exc:
        return Plan("", [], [f"{source}: row 2: {exc}"])
    for r in rows:
        if r.job and r.job != job.id and not job.id.startswith(r.job):
            problem(r.row, f"the row is of job {r.job}, not job {job.id}: a sheet from "
                    "another job")
    statuses = (NEEDS_REVIEW, NO_MATCH) if include_no_match else (NEEDS_REVIEW,)
    entries = group(read_lines(session, job.id, statuses, reviewed=True))
    releases = catalog.releases(session)
    parsed: list[tuple[SheetRow, QueueEntry, tuple[str, ...]]] = []
    seen: dict[str, tuple[int, str]] = {}
    for r in rows:
        if not r.decision or (r.job and r.job != job.id and not job.id.startswith(r.job)):
            continue
        key = text_key(r.entry)
        entry = entries.get(key)
        if entry is None:
            problem(r.row, f"no line of job {job.id} waiting for review has the entry "
                    f"{r.entry[:60]!r}")
            continue
        if len(key) > MAX_ENTRY_KEY:
            problem(r.row, "the entry is longer than 1,000 characters: decide it by hand")
            continue
        codes = parse_decision(r.decision)
        if isinstance(codes, str):
            problem(r.row, codes)
            continue
        earlier = seen.get(key)
        if earlier is not None:
            if earlier[1] != "+".join(codes):
                problem(r.row, f"the same entry as row {earlier[0]} with another decision")
            continue
        seen[key] = (r.row, "+".join(codes))
        parsed.append((r, entry, codes))
    known = _codes(session, {c for _, _, codes in parsed for c in codes})
    anywhere = {code for _, code in known}
    decisions = []
    for r, entry, codes in parsed:
        labels = {_label_of(line, releases): line for line in entry.lines}
        why = ""
        for code in codes:
            if code not in anywhere:
                why = f"unknown code {code}: no code of any loaded release"
                break
            for label, line in sorted(labels.items()):
                billable = known.get((label, code))
                if billable is None or not billable[1]:
                    on = line.date_of_service.isoformat() if line.date_of_service else "no date"
                    what = "is not a code" if billable is None else "is a header, not billable"
                    why = (f"{code} {what} in {label}, the release of line {line.line_no} "
                           f"(date of service {on}): not valid on the lines' dates of service")
                    break
            if why:
                break
        if why:
            problem(r.row, why)
            continue
        titles = {label: "; ".join(known[(label, code)][0] for code in codes) for label in labels}
        decisions.append(Decision(r.row, entry.key, entry.entry, codes, r.note, entry.lines,
                                  titles))
    return Plan(job.id, decisions, problems)


def _codes(session: Session, codes: set[str]) -> dict[tuple[str, str], tuple[str, bool]]:
    """(release label, code) -> (title, billable) for the codes, in every loaded release."""
    if not codes:
        return {}
    rows = session.execute(
        select(CodeSetRelease.label, Code.code, Code.title, Code.billable)
        .join(CodeSetRelease, CodeSetRelease.id == Code.release_id)
        .where(Code.code.in_(sorted(codes))))
    return {(label, code): (title, bool(billable)) for label, code, title, billable in rows}


def in_window(on: dt.date | None, start: dt.date | None, end: dt.date | None) -> bool:
    """Is a date of service inside an override's window (open ends: always)?"""
    if start is None and end is None:
        return True
    if on is None:
        return False
    return (start is None or on >= start) and (end is None or on <= end)
