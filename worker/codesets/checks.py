"""Checks a new code-set release must pass before it goes live: its own hierarchy, and its size
and changes against the release before it (a truncated file would make every claim of its year
`no_match`)."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.codesets.model import ParsedRelease
from worker.errors import ReleaseCheckError
from worker.models import Code, CodeSetRelease

# Under this share of the previous release's billable codes the file is taken as truncated:
# CMS's yearly changes add or delete a few hundred codes of ~74,000, never half of them.
MIN_BILLABLE_SHARE = 0.5


@dataclasses.dataclass(frozen=True)
class ReleaseDiff:
    """How a new release differs from the one before it, counted over codes."""

    previous: str | None
    previous_billable: int
    billable: int
    added: int = 0
    deleted: int = 0
    retitled: int = 0
    now_header: int = 0  # billable before, a header (pick a child) now
    now_billable: int = 0

    def line(self) -> str:
        if self.previous is None:
            return f"no earlier release to compare with; {self.billable:,} billable codes"
        return (f"against {self.previous}: billable {self.previous_billable:,} -> "
                f"{self.billable:,}; added {self.added:,}, deleted {self.deleted:,}, "
                f"retitled {self.retitled:,}, now a header {self.now_header:,}, "
                f"now billable {self.now_billable:,}")


def hierarchy_problems(parsed: ParsedRelease) -> list[str]:
    """Codes whose billable flag contradicts the release's own hierarchy: a code with codes
    below it is a header, a header with none below it cannot be coded at all.

    "Below" is by code prefix, not by parent link: a placeholder header (H21.1X) is skipped by
    the parent links (H21.1X1's parent is H21.1) yet has its codes below it all the same.
    """
    flats = sorted((row.code.replace(".", ""), row) for row in parsed.codes)
    billable_parents, childless_headers = [], []
    for n, (flat, row) in enumerate(flats):
        has_below = n + 1 < len(flats) and flats[n + 1][0].startswith(flat)
        if row.billable and has_below:
            billable_parents.append(row.code)
        elif not row.billable and not has_below:
            childless_headers.append(row.code)
    problems = []
    if billable_parents:
        problems.append(f"{len(billable_parents):,} codes flagged billable have codes below "
                        f"them (e.g. {', '.join(billable_parents[:3])})")
    if childless_headers:
        problems.append(f"{len(childless_headers):,} header codes have no codes below them "
                        f"(e.g. {', '.join(childless_headers[:3])})")
    return problems


def previous_release(session: Session, parsed: ParsedRelease) -> CodeSetRelease | None:
    """The loaded release in force just before this one starts (another label)."""
    return session.scalar(
        select(CodeSetRelease)
        .where(CodeSetRelease.label != parsed.label,
               CodeSetRelease.effective_from < parsed.effective_from)
        .order_by(CodeSetRelease.effective_from.desc()).limit(1))


def diff_with_previous(session: Session, parsed: ParsedRelease) -> ReleaseDiff:
    previous = previous_release(session, parsed)
    if previous is None:
        return ReleaseDiff(None, 0, parsed.billable_count)
    old = {code: (title, billable) for code, title, billable in session.execute(
        select(Code.code, Code.title, Code.billable).where(Code.release_id == previous.id))}
    new = {row.code: (row.title, row.billable) for row in parsed.codes}
    both = old.keys() & new.keys()
    return ReleaseDiff(
        previous.label, previous.billable_count, parsed.billable_count,
        added=len(new.keys() - old.keys()), deleted=len(old.keys() - new.keys()),
        retitled=sum(1 for c in both if old[c][0] != new[c][0]),
        now_header=sum(1 for c in both if old[c][1] and not new[c][1]),
        now_billable=sum(1 for c in both if not old[c][1] and new[c][1]))


def check_release(session: Session, parsed: ParsedRelease, *, force: bool) -> ReleaseDiff:
    """The diff against the previous release; ReleaseCheckError when the release looks wrong
    and `force` is not given. Nothing is written."""
    diff = diff_with_previous(session, parsed)
    problems = hierarchy_problems(parsed)
    if diff.previous is not None and \
            diff.billable < MIN_BILLABLE_SHARE * diff.previous_billable:
        problems.insert(0, f"{diff.billable:,} billable codes, under half of {diff.previous}'s "
                           f"{diff.previous_billable:,}: the file looks truncated")
    if problems and not force:
        raise ReleaseCheckError(
            f"{parsed.label} ({parsed.source}) was not loaded: " + "; ".join(problems)
            + f". {diff.line()}. Check the file; load it with --force if it is right")
    return diff
