"""The entry and result contract shared by every interface (CLI, files, database, Python)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

# Result statuses: what a claims system may do with a line.
RESOLVED = "resolved"  # safe to use as is
NEEDS_REVIEW = "needs_review"  # a person must choose among the alternatives
NO_MATCH = "no_match"  # nothing plausible
INVALID_INPUT = "invalid_input"  # the line is not a diagnosis entry we can read
ERROR = "error"  # could not be processed (pipeline failure); `dxcoder retry` sends it again
STATUSES = (RESOLVED, NEEDS_REVIEW, NO_MATCH, INVALID_INPUT, ERROR)

# Methods: which stage decided a result (worker.resolver.outcome holds the resolver's). `review`:
# a person chose the code in the review queue (worker.review), confidence 1.0.
REVIEW = "review"
METHODS = ("override", "code_exact", "code_normalized", "code_header", "code_other_release",
           "icd9_gem", "icd9_title", "title_exact", "inclusion_term", "short_title", "synonym",
           "abbreviation", "fuzzy", REVIEW)

# Coding systems an entry may declare.
SYSTEM_AUTO = "auto"
SYSTEM_ICD10CM = "icd10cm"
SYSTEM_ICD9CM = "icd9cm"
SYSTEM_TEXT = "text"
SYSTEMS = (SYSTEM_AUTO, SYSTEM_ICD10CM, SYSTEM_ICD9CM, SYSTEM_TEXT)

# Column order of a result row in every output format.
RESULT_FIELDS = (
    "line_no",
    "id",
    "input",
    "status",
    "code",
    "description",
    "method",
    "confidence",
    "code_set",
    "alternatives",
    "message",
    # The date the line was resolved for (the claim's date of service; empty: none given, so
    # the newest release was used). Last, so the columns before it keep their places.
    "date_of_service",
)


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """One diagnosis entry to resolve: a line of a claims file after parsing."""

    line_no: int
    term: str
    id: str = ""
    system: str = SYSTEM_AUTO
    date_of_service: dt.date | None = None


@dataclasses.dataclass(slots=True)
class Result:
    """The outcome for one entry, in the column order of RESULT_FIELDS."""

    line_no: int
    id: str
    input: str
    status: str
    code: str = ""
    description: str = ""
    method: str = ""
    confidence: float = 0.0
    code_set: str = ""
    alternatives: str = ""
    message: str = ""
    date_of_service: dt.date | None = None

    def as_dict(self) -> dict[str, Any]:
        """The fields by name, ready for JSON (the date as ISO text, None when there is none)."""
        record = {name: getattr(self, name) for name in RESULT_FIELDS}
        if isinstance(self.date_of_service, dt.date):
            record["date_of_service"] = self.date_of_service.isoformat()
        return record
