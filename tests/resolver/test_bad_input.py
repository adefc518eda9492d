"""Bad input never raises: each line gets invalid_input or no_match with a message."""

from __future__ import annotations

import pytest

from tests.resolver.helpers import one
from worker.contract import Entry
from worker.resolver import Resolver

BAD = {
    "empty": "",
    "blank": "   \t ",
    "10 kB line": "diabetes " * 1200,
    "control characters": "E11.9\x00\x07",
    "bell only": "\x1b[31m",
    "lone surrogate (undecodable UTF-8)": "diab\udcffetes",
    "SQL": "'; DROP TABLE code; --",
    "SQL union": "1' UNION SELECT * FROM override --",
    "emoji": "\U0001f600\U0001f480",
    "punctuation": "!!!???",
    "digits": "12",
    "null marker": "NULL",
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_gets_a_status_and_a_message(resolver: Resolver, name: str) -> None:
    result = one(resolver, BAD[name])
    assert result.status in ("invalid_input", "no_match"), name
    assert result.message
    assert result.code == ""


def test_messages_do_not_echo_the_input(resolver: Resolver) -> None:
    for term in ("'; DROP TABLE code; --", "patient John Smith 123-45-6789 zzqx", "x" * 600):
        result = one(resolver, term)
        assert term not in result.message
        assert "John" not in result.message


def test_a_batch_of_bad_input_keeps_every_line(resolver: Resolver) -> None:
    entries = [Entry(line_no=n, term=term) for n, term in enumerate(BAD.values())]
    entries.append(Entry(line_no=99, term="E11.9"))
    results = resolver.resolve(entries)
    assert [r.line_no for r in results] == [e.line_no for e in entries]
    assert results[-1].code == "E11.9"


def test_unknown_system_is_invalid_input(resolver: Resolver) -> None:
    [result] = resolver.resolve([Entry(line_no=1, term="E11.9", system="snomed")])
    assert result.status == "invalid_input"
    assert "system" in result.message


def test_a_term_that_is_not_text_is_invalid_input(resolver: Resolver) -> None:
    [result, fine] = resolver.resolve([Entry(line_no=1, term=["E11.9"]),  # type: ignore[arg-type]
                                       Entry(line_no=2, term="E11.9")])
    assert result.status == "invalid_input"
    assert fine.code == "E11.9"


def test_a_date_of_service_that_is_not_a_date_is_invalid_input(resolver: Resolver) -> None:
    import datetime as dt

    entries = [Entry(line_no=1, term="E11.9", date_of_service="2025-01-01"),  # type: ignore[arg-type]
               Entry(line_no=2, term="E11.9", date_of_service=[2025]),  # type: ignore[arg-type]
               Entry(line_no=3, term="G35", date_of_service=dt.datetime(2025, 3, 1, 8, 30)),
               Entry(line_no=4, term="E11.9")]
    results = resolver.resolve(entries)
    assert [r.status for r in results] == ["invalid_input", "invalid_input", "resolved", "resolved"]
    assert results[0].message == "the date of service is not a date"
    assert results[2].code_set == "FY2025"
