"""The JSONL reader: keys, blank lines, and every kind of bad line."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from worker.ingest import SourceLine, open_source
from worker.ingest.common import PREFIX_BYTES
from worker.ingest.jsonl import LINE_LIMIT


def read(tmp_path: Path, data: str | bytes, **options: str) -> list[SourceLine]:
    path = tmp_path / "claims.jsonl"
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    source = open_source(path, **options)
    assert source.format == "jsonl"
    return list(source)


def test_keys_aliases_and_extra(tmp_path: Path) -> None:
    rows = [
        {"id": "a1", "term": "E11.9", "system": "ICD10", "date_of_service": "2024-02-01", "member": "M1"},
        {
            "ID": 42,
            "Dx": "Type 2 Diabetes",
            "DOS": "20240202",
            "n": 3,
            "flag": True,
            "tags": ["x"],
            "none": None,
        },
        {"id": "a3", "diagnosis": "250.00", "system": "icd9", "service_date": "09/01/2015"},
    ]
    lines = read(tmp_path, "".join(json.dumps(row) + "\n" for row in rows))
    assert lines == [
        # The system key passes through as written, besides being parsed.
        SourceLine(1, "E11.9", "a1", "icd10cm", dt.date(2024, 2, 1),
                   {"system": "ICD10", "member": "M1"}),
        SourceLine(
            2,
            "Type 2 Diabetes",
            "42",
            "auto",
            dt.date(2024, 2, 2),
            {"n": "3", "flag": "true", "tags": '["x"]', "none": ""},
        ),
        SourceLine(3, "250.00", "a3", "icd9cm", dt.date(2015, 9, 1), {"system": "icd9"}),
    ]


def test_named_keys(tmp_path: Path) -> None:
    (line,) = read(
        tmp_path,
        '{"text": "CHF", "claim": "C1", "svc": "2024-01-02", "term": "other"}\n',
        term_column="text",
        id_column="claim",
        dos_column="svc",
    )
    assert (line.term, line.id, line.date_of_service, line.extra) == (
        "CHF",
        "C1",
        dt.date(2024, 1, 2),
        {"term": "other"},
    )


def test_lines_are_numbered_as_in_the_file_and_blank_ones_are_error_lines(tmp_path: Path) -> None:
    data = '\n{"term": "E11.9"}\r\n  \t \n\n{"term": ""}\n{"term": "I10"}'  # no newline at the end
    lines = read(tmp_path, data)
    assert [(line.line_no, line.term) for line in lines] == [
        (1, ""), (2, "E11.9"), (3, ""), (4, ""), (5, ""), (6, "I10")]
    assert [line.error for line in lines] == [
        "line 1: the line is blank", "", "line 3: the line is blank", "line 4: the line is blank",
        "line 5: term is empty", ""]
    # Blank lines after the last object are what editors add: no lines of their own.
    assert len(read(tmp_path, '{"term": "E11.9"}\n\n  \n\n')) == 1


def test_every_bad_line_is_kept_with_its_line_and_problem(tmp_path: Path) -> None:
    data = "\n".join(
        [
            '{"id": "1", "term": "E11.9"}',  # 1 fine
            '{"id": "2", "term": "Diabetes"',  # 2 broken JSON
            '["Diabetes"]',  # 3 an array
            '"Diabetes"',  # 4 a string
            '{"id": "5", "term": 250.0}',  # 5 non-string term
            '{"id": "6"}',  # 6 no term
            '{"id": "7", "term": null}',  # 7 null term
            json.dumps({"id": "8", "term": "A" * 1500}),  # 8 too long
            '{"id": "9", "term": "Diab\\u0007etes"}',  # 9 control character
            '{"id": "10", "term": "Diabetes", "dos": "2024-02-30"}',  # 10 impossible date
            '{"id": "11", "term": "Diabetes", "system": "snomed"}',  # 11 unknown system
            '{"id": ["12"], "term": "Diabetes", "dos": 20240101}',  # 12 wrong types
            '{"id": "13", "term": "Diabetes", "note": "' + "n" * 1001 + '"}',  # 13 extra too long
            "[" * 100_000,  # 14 absurd nesting
            '{"id": "15", "term": "Diabetes", "n": ' + "9" * 5000 + "}",  # 15 integer beyond Python's limit
        ]
    )
    lines = read(tmp_path, "\n" + data + "\n")  # a leading blank line: a line of its own
    assert [line.line_no for line in lines] == list(range(1, 17))
    lines = lines[1:]
    assert [line.error for line in lines] == [
        "",
        "line 3: not valid JSON (Expecting ',' delimiter at column 31)",
        "line 4: expected a JSON object, got an array",
        "line 5: expected a JSON object, got a string",
        "line 6: term is a number, expected a string",
        "line 7: term is missing",
        "line 8: term is missing",
        "line 9: term is 1,500 characters (limit 1,000)",
        "line 10: term contains a control character (U+0007)",
        "line 11: dos '2024-02-30' is not a real date",
        "line 12: system is not a known coding system (use icd10cm, icd9cm, text or auto)",
        "line 13: id is an array, expected a string; dos is a number, expected a string",
        "line 14: note is 1,001 characters (limit 1,000)",
        "line 15: not valid JSON (a number or nesting beyond what is accepted)",
        "line 16: not valid JSON (a number or nesting beyond what is accepted)",
    ]
    for line in lines:
        assert "Diab" not in line.error and "AAAA" not in line.error and "nnnn" not in line.error
    assert lines[0].id == "1" and lines[8].term == "Diab\x07etes"


def test_a_line_over_the_limit_is_an_error_and_reading_goes_on(tmp_path: Path) -> None:
    huge = json.dumps({"term": "x" * (LINE_LIMIT + 10)})
    lines = read(tmp_path, '{"term": "E11.9"}\n' + huge + '\n{"term": "I10"}\n')
    assert [line.error for line in lines] == ["", "line 2: is 1,048,576 characters or longer; not read", ""]
    assert lines[2].term == "I10"


def test_cp1252_file(tmp_path: Path) -> None:
    lines = read(tmp_path, b'{"term": "E11.9"}\n' * 2 + b'{"term": "caf\xe9"}\n')
    assert lines[2].term == "caf\u00e9" and lines[2].error == ""


def test_bad_bytes_past_the_prefix_mark_the_line(tmp_path: Path) -> None:
    good = b'{"term": "E11.9"}\n' * (PREFIX_BYTES // 18 + 1)
    count = good.count(b"\n")
    lines = read(tmp_path, good + b'{"term": "caf\xe9"}\n{"term": "I10"}\n')
    assert len(lines) == count + 2
    assert lines[-2].error == f"line {count + 1}: has bytes that are not valid UTF-8"
    assert lines[-1].error == ""


def test_line_separator_characters_inside_strings_do_not_split_lines(tmp_path: Path) -> None:
    data = json.dumps({"term": "a\u2028b\x85c\x0cd"}, ensure_ascii=False) + "\n"
    (line,) = read(tmp_path, data)
    assert line.term == "a\u2028b\x85c\x0cd"
