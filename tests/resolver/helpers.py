"""Small helpers for resolver tests: resolve one term, read alternatives."""

from __future__ import annotations

import datetime as dt

from worker.contract import Entry, Result
from worker.resolver import Resolver

FY2025_DATE = dt.date(2025, 3, 1)
FY2026_DATE = dt.date(2026, 1, 15)


def one(resolver: Resolver, term: str, *, system: str = "auto", dos: dt.date | None = None,
        release: str | None = None) -> Result:
    [result] = resolver.resolve([Entry(line_no=1, term=term, system=system, date_of_service=dos)],
                                release=release)
    return result


def alternatives(result: Result) -> list[str]:
    return result.alternatives.split("|") if result.alternatives else []
