"""Claim-level edits: a claim's codes checked against each other with the tabular's notes.

After resolution each claim (X12 CLM, or lines sharing a claim id; the first-listed, or the
ABK/BK line, is the principal) is checked against the notes of the release its lines used:

- `excludes1` (error): two codes where an Excludes1 note of one, or of one of its ancestors,
  section or chapter, names the other.
- `code_first` (error): a manifestation code (its title, or its category's, says "in diseases
  classified elsewhere") listed first, or with no code from the underlying range its note
  names; for other Code first notes (L97: "any associated underlying condition, such as") a
  missing code is a warning.
- `use_additional` (warning): a code whose own or subcategory's "Use additional code" note
  names companions (E11.621: L97.4-, L97.5-), none on the claim. Category, section and chapter
  notes are left out: they list what to add when it applies (E11: insulin use; J45: tobacco
  exposure; A00-B99: drug resistance), which most claims rightly lack, and would bury the
  warnings that matter.
- `duplicate` (warning): the same code twice on one claim.
- `not_coded` (warning): the claim's lines with no code valid on the date of service, summed up.

Only `resolved` codes take part; a `+`-joined GEM combination counts as its codes.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import json
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import IO

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from worker import contract, db
from worker.codesets.notes import CODE_FIRST, EXCLUDES1, USE_ADDITIONAL, CodeRange, Note, flat
from worker.csvcells import SafeWriter
from worker.memo import remember
from worker.models import Chunk, Code, CodeNote, CodeSetRelease, Job
from worker.pipeline import claims
from worker.pipeline.claims import ClaimLine

log = logging.getLogger(__name__)

ERROR, WARNING = "error", "warning"
EDITS = (EXCLUDES1, CODE_FIRST, USE_ADDITIONAL, "duplicate", "not_coded")
EDIT_FIELDS = ("claim_id", "edit", "codes", "severity", "message")


@dataclasses.dataclass(frozen=True, slots=True)
class Edit:
    claim_id: str
    edit: str
    codes: str  # `|`-joined, in claim order
    severity: str
    message: str

    def record(self) -> dict[str, str]:
        return dataclasses.asdict(self)


class NoteBook:
    """One release's notes, found by code: a code inherits the notes of its ancestors (by
    prefix) and of the sections and chapters whose range holds it."""

    def __init__(self, label: str, notes: Iterable[Note], manifestations: Iterable[str] = (),
                 categories: Iterable[str] = ()) -> None:
        self.label = label
        self._all = list(notes)
        # Flat codes whose title says "in diseases classified elsewhere" (and their children).
        self._manifestations = frozenset(manifestations)
        self._by_holder: dict[str, list[Note]] = collections.defaultdict(list)
        self._ranged: dict[str, list[Note]] = collections.defaultdict(list)  # by kind
        for note in self._all:
            if note.holder.low == note.holder.high:
                self._by_holder[note.holder.low].append(note)
            else:
                self._ranged[note.kind].append(note)
        self._memo: dict[tuple[str, str], tuple[Note, ...]] = {}
        self._pairs: dict[tuple[str, str], Note | None] = {}
        self._excluded: dict[str, frozenset[str]] = {}
        # Every category a note could name (A00 .. Z99 as the notes write them), sorted.
        self._categories = sorted({r.low[:3] for n in self._all for r in n.refs}
                                  | {r.high[:3] for n in self._all for r in n.refs}
                                  | set(categories))
        self._named: dict[tuple[int, str], bool] = {}
        self._requirements: dict[str, tuple[bool, tuple[Note, ...], tuple[Note, ...]]] = {}
        self._facts: dict[str, tuple[frozenset[str], bool, tuple[Note, ...], tuple[Note, ...]]] = {}

    def is_manifestation(self, code: str) -> bool:
        plain = flat(code)
        return any(plain[:cut] in self._manifestations for cut in range(3, len(plain) + 1))

    def notes_for(self, code: str, kind: str, *, ranged: bool = True) -> tuple[Note, ...]:
        key = (code, kind + ("+" if ranged else ""))
        found = self._memo.get(key)
        if found is None:
            plain = flat(code)
            own = [n for cut in range(3, len(plain) + 1)
                   for n in self._by_holder.get(plain[:cut], ()) if n.kind == kind]
            if ranged:
                own += self._ranged_for(plain[:3], kind)
            found = self._memo[key] = tuple(own)
        return found

    def excludes(self, code: str, other: str) -> Note | None:
        """The first Excludes1 note of `code` (or of what holds it) that names `other`."""
        plain = flat(other)
        if plain[:3] not in self.excluded_categories(code):
            return None  # most pairs: nothing of the other's category is named at all
        key = (code, other)
        if key in self._pairs:
            return self._pairs[key]
        found = next((n for n in self.notes_for(code, EXCLUDES1)
                      if any(r.covers_flat(plain) for r in n.refs)), None)
        remember(self._pairs, key, found, _PAIR_MEMO_SIZE)
        return found

    def excluded_categories(self, code: str) -> frozenset[str]:
        """The categories that any Excludes1 note of `code` names some code of."""
        found = self._excluded.get(code)
        if found is None:
            named: set[str] = set()
            for note in self.notes_for(code, EXCLUDES1):
                for r in note.refs:
                    first = bisect.bisect_left(self._categories, r.low[:3])
                    last = bisect.bisect_right(self._categories, r.high[:3])
                    named.update(self._categories[first:last])
            found = self._excluded[code] = frozenset(named)
        return found

    def names(self, note: Note, other: str) -> bool:
        """True when `note` names `other` among its codes."""
        key = (id(note), other)
        found = self._named.get(key)
        if found is None:
            plain = flat(other)
            found = any(r.covers_flat(plain) for r in note.refs)
            remember(self._named, key, found, _PAIR_MEMO_SIZE)
        return found

    def requirements(self, code: str) -> tuple[bool, tuple[Note, ...], tuple[Note, ...]]:
        """(is a manifestation code, its Code first notes, its Use additional notes that ask
        for a companion): the code's own and its ancestors', never a section's or chapter's.
        Category-level Use additional notes are left out (see the module docstring)."""
        found = self._requirements.get(code)
        if found is None:
            use_additional = tuple(n for n in self.notes_for(code, USE_ADDITIONAL, ranged=False)
                                   if n.refs and len(n.holder.low) > 3)
            found = (self.is_manifestation(code), self.notes_for(code, CODE_FIRST, ranged=False),
                     use_additional)
            self._requirements[code] = found
        return found

    def facts(self, code: str) -> tuple[frozenset[str], bool, tuple[Note, ...], tuple[Note, ...]]:
        """excluded_categories and requirements of `code` in one lookup: each claim asks them
        of every code it holds."""
        found = self._facts.get(code)
        if found is None:
            found = self._facts[code] = (self.excluded_categories(code), *self.requirements(code))
        return found

    def _ranged_for(self, category: str, kind: str) -> list[Note]:
        # Sections and chapters span whole categories (E08-E13, C00-D49): one scan per category.
        key = (category, kind + "@")
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = tuple(n for n in self._ranged.get(kind, ())
                                            if n.holder.covers_flat(category))
        return list(found)


def load_notebooks(session: Session) -> dict[str, NoteBook]:
    """Release label -> its notes. A release loaded without a tabular (FY2025 from CMS's code
    files, an order file) borrows the notes of the nearest release that has them."""
    releases = list(session.execute(
        select(CodeSetRelease.id, CodeSetRelease.label).order_by(CodeSetRelease.effective_from)))
    notes: dict[int, list[Note]] = collections.defaultdict(list)
    for row in session.execute(select(CodeNote.release_id, CodeNote.kind, CodeNote.holder_code,
                                      CodeNote.holder_low, CodeNote.holder_high, CodeNote.text,
                                      CodeNote.refs, CodeNote.if_applicable)):
        release_id, kind, holder_code, low, high, text, refs, if_applicable = row
        notes[release_id].append(Note(kind, CodeRange(low, high), holder_code, text,
                                      tuple(CodeRange.from_list(r) for r in refs),
                                      bool(if_applicable)))
    manifestations: dict[int, list[str]] = collections.defaultdict(list)
    for release_id, code in session.execute(select(Code.release_id, Code.code).where(
            Code.title.like("%classified elsewhere%"))):
        manifestations[release_id].append(flat(code))
    categories: dict[int, list[str]] = collections.defaultdict(list)
    for release_id, code in session.execute(select(Code.release_id, Code.code).where(
            Code.level == 1)):
        categories[release_id].append(code)
    books = {label: NoteBook(label, notes[release_id], manifestations[release_id],
                             categories[release_id])
             for release_id, label in releases if notes.get(release_id)}
    out: dict[str, NoteBook] = {}
    for index, (_, label) in enumerate(releases):
        if label in books:
            out[label] = books[label]
            continue
        by_distance = sorted(books, key=lambda other: abs(
            next(i for i, (_, lab) in enumerate(releases) if lab == other) - index))
        if by_distance:
            out[label] = books[by_distance[0]]
    return out


def _codes(lines: Sequence[ClaimLine]) -> list[tuple[str, ClaimLine]]:
    """The claim's resolved codes in claim order, combinations split, principal first."""
    ordered = sorted(lines, key=lambda line: not line.principal) if any(
        line.principal for line in lines) else list(lines)
    return [(code, line) for line in ordered if line.status == contract.RESOLVED and line.code
            for code in line.code.split("+")]


# Claims repeat: the same codes, statuses and releases give the same edits (a bounded memo).
_MEMO_SIZE = 50_000
_PAIR_MEMO_SIZE = 200_000  # (code, code) pairs: a year's claims hold far fewer distinct ones
_Found = tuple[tuple[str, str, str, str], ...]  # (edit, codes, severity, message)


class ClaimChecker:
    """Checks claims against the loaded notes, remembering the answer for each distinct set of
    resolved codes (a claims file repeats its claims' shapes: one code, a few common pairs)."""

    def __init__(self, books: dict[str, NoteBook]) -> None:
        self.books = books
        self._memo: dict[tuple[tuple[str, str, bool], ...], _Found] = {}

    @classmethod
    def from_database(cls) -> ClaimChecker:
        with db.session_scope() as session:
            return cls(load_notebooks(session))

    def check(self, claim_id: str, lines: Sequence[ClaimLine]) -> list[Edit]:
        edits: list[Edit] = []
        unresolved = [line for line in lines if line.status != contract.RESOLVED]
        if unresolved:
            statuses = collections.Counter(line.status for line in unresolved)
            edits.append(Edit(
                claim_id, "not_coded", "", WARNING,
                f"{len(unresolved)} of {len(lines)} lines have no code valid on the date of "
                "service (" + ", ".join(f"{s} {n}" for s, n in sorted(statuses.items()))
                + "; lines " + ", ".join(str(line.line_no) for line in unresolved[:10])
                + (", …" if len(unresolved) > 10 else "") + ")"))
        edits.extend(Edit(claim_id, *one) for one in self._code_edits(lines))
        return edits

    def count(self, lines: Sequence[ClaimLine], counts: collections.Counter[str]) -> None:
        """Add what check() finds on the claim to `counts`, by kind and by severity (as
        summarize counts), without writing the messages: the chunks count every claim."""
        if any(line.status != contract.RESOLVED for line in lines):
            counts["not_coded"] += 1
            counts[WARNING] += 1
        for edit, _, severity, _ in self._code_edits(lines):
            counts[edit] += 1
            counts[severity] += 1

    def _code_edits(self, lines: Sequence[ClaimLine]) -> _Found:
        signature = tuple((line.code, line.code_set, line.principal) for line in lines
                          if line.status == contract.RESOLVED and line.code)
        if not signature:
            return ()
        found = self._memo.get(signature)
        if found is None:
            found = _check_codes(lines, self.books)
            remember(self._memo, signature, found, _MEMO_SIZE)
        return found


def _check_codes(lines: Sequence[ClaimLine], books: dict[str, NoteBook]) -> _Found:
    """The code edits of a claim's resolved lines (everything but not_coded)."""
    found: list[tuple[str, str, str, str]] = []
    coded = _codes(lines)
    codes = [code for code, _ in coded]
    for code, n in collections.Counter(codes).items():
        if n > 1:
            found.append(("duplicate", code, WARNING, f"{code} is on the claim {n} times"))
    distinct = list(dict.fromkeys(codes))
    category = {code: flat(code)[:3] for code in distinct}
    book_of = {code: books.get(line.code_set) for code, line in coded}
    seen_pairs: set[frozenset[str]] = set()
    for position, (code, _) in enumerate(coded):
        book = book_of[code]
        if book is None:
            continue
        named, manifestation, code_first, use_additional = book.facts(code)
        for other in distinct if named else ():
            # Most pairs: no Excludes1 note of the code names anything of the other's category.
            if category[other] not in named or other == code:
                continue
            pair = frozenset((code, other))
            if pair in seen_pairs:
                continue
            note = book.excludes(code, other)
            if note is not None:
                seen_pairs.add(pair)
                found.append((EXCLUDES1, "|".join(c for c in distinct if c in pair), ERROR,
                              f"Excludes1 at {note.holder_code}: {note.text}; {code} and "
                              f"{other} are not coded together"))
        if not code_first and not use_additional:
            continue
        others = [c for c in distinct if c != code]
        for note in code_first:
            if manifestation and position == 0:
                found.append((CODE_FIRST, code, ERROR,
                              f"{code} is a manifestation code (in diseases classified "
                              f"elsewhere) listed first; Code first at {note.holder_code}: "
                              f"{note.text}"))
            if note.refs and not any(book.names(note, other) for other in others):
                severity = ERROR if manifestation and not note.if_applicable else WARNING
                found.append((CODE_FIRST, code, severity,
                              f"no code on the claim from what {code}'s note names; Code first "
                              f"at {note.holder_code}: {note.text}"))
        for note in use_additional:
            if not any(book.names(note, other) for other in others):
                found.append((USE_ADDITIONAL, code, WARNING,
                              f"Use additional code at {note.holder_code}"
                              f"{' (if applicable)' if note.if_applicable else ''}: "
                              f"{note.text}; none on the claim"))
    return tuple(found)


def job_edits(job_id: str) -> Iterator[Edit]:
    """Every edit of a job's claims, claim by claim (streamed, like `results --by-claim`)."""
    checker = ClaimChecker.from_database()
    for claim_id, lines in claims.iter_claim_lines(job_id):
        yield from checker.check(claim_id, lines)


def write_edits(job_id: str, out: IO[str], fmt: str = "csv") -> int:
    """One row per edit: claim_id, edit, codes, severity, message (CSV safe for spreadsheets)."""
    writer = SafeWriter(out)
    if fmt == "csv":
        writer.writerow(EDIT_FIELDS)
    count = 0
    for edit in job_edits(job_id):
        if fmt == "jsonl":
            out.write(json.dumps(edit.record(), ensure_ascii=False) + "\n")
        else:
            writer.writerow([getattr(edit, name) for name in EDIT_FIELDS])
        count += 1
    return count


def record_job_edits(job_id: str) -> dict[str, int]:
    """Check every claim of a finished job; keep the counts in its summary (`edits`) and log
    them (ids and counts only). Returns the counts, for the finishing task's metrics."""
    started = time.perf_counter()
    counts = summarize(job_edits(job_id))
    with db.session_scope() as session:
        job = session.get(Job, job_id)
        if job is not None:
            job.summary = {**(job.summary or {}), "edits": counts}
        # The chunks' own checks (worker.pipeline.chunk_edits) are stale once a job's results
        # change (recoding), and this count supersedes them.
        session.execute(update(Chunk).where(Chunk.job_id == job_id,
                                            Chunk.claim_edits.is_not(None))
                        .values(claim_edits=None))
    log.info("job.edits", extra={"job_id": job_id, "edits": counts,
                                 "seconds": round(time.perf_counter() - started, 3)})
    return counts


def summarize(edits: Iterable[Edit]) -> dict[str, int]:
    """Edit counts by kind and severity, for metrics: {'excludes1': 3, 'error': 3, ...}."""
    counts: collections.Counter[str] = collections.Counter()
    for edit in edits:
        counts[edit.edit] += 1
        counts[edit.severity] += 1
    return dict(counts)
