"""The CSV reader: columns, delimiters, encodings, numbering, and every kind of bad line."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest

from worker.errors import FileRejected
from worker.ingest import SourceLine, open_source
from worker.ingest.common import PREFIX_BYTES, iter_pieces
from worker.ingest.csvfile import iter_records


def write(tmp_path: Path, data: str | bytes, name: str = "claims.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def read(tmp_path: Path, data: str | bytes, **options: str) -> list[SourceLine]:
    return list(open_source(write(tmp_path, data), **options))


def test_columns_system_date_and_extra(tmp_path: Path) -> None:
    source = open_source(
        write(
            tmp_path,
            "ID,Term,System,Date_of_Service,member,payer\n"
            "a1,E11.9,ICD-10-CM,2024-02-01,M1,P1\n"
            "a2,250.00,icd9,20150901,M2,\n"
            "a3,Type 2 Diabetes,Text,03/04/2024,,\n"
            "a4, e119 ,,,M4,P4\n",
        )
    )
    lines = list(source)
    assert source.format == "csv" and source.encoding == "utf-8" and source.warnings == []
    assert source.columns == ["ID", "Term", "System", "Date_of_Service", "member", "payer"]
    # Numbered by physical line (the header is line 1); the system column passes through as
    # written, besides being parsed.
    assert lines == [
        SourceLine(2, "E11.9", "a1", "icd10cm", dt.date(2024, 2, 1),
                   {"System": "ICD-10-CM", "member": "M1", "payer": "P1"}),
        SourceLine(3, "250.00", "a2", "icd9cm", dt.date(2015, 9, 1),
                   {"System": "icd9", "member": "M2", "payer": ""}),
        SourceLine(4, "Type 2 Diabetes", "a3", "text", dt.date(2024, 3, 4),
                   {"System": "Text", "member": "", "payer": ""}),
        # The term is passed as written: normalising codes is the resolver's job.
        SourceLine(5, " e119 ", "a4", "auto", None, {"System": "", "member": "M4", "payer": "P4"}),
    ]


@pytest.mark.parametrize(
    ("spelling", "system"),
    [
        ("icd10cm", "icd10cm"),
        ("ICD10", "icd10cm"),
        ("ICD-10-CM", "icd10cm"),
        ("icd_10", "icd10cm"),
        ("ICD9", "icd9cm"),
        ("ICD-9-CM", "icd9cm"),
        ("text", "text"),
        ("Free Text", "text"),
        ("AUTO", "auto"),
        ("", "auto"),
    ],
)
def test_system_spellings(tmp_path: Path, spelling: str, system: str) -> None:
    (line,) = read(tmp_path, f"term,system\nE11.9,{spelling}\n")
    assert (line.system, line.error) == (system, "")


@pytest.mark.parametrize(
    ("value", "date"),
    [
        ("2024-02-29", dt.date(2024, 2, 29)),
        ("20240229", dt.date(2024, 2, 29)),
        ("02/29/2024", dt.date(2024, 2, 29)),
        ("2/9/2024", dt.date(2024, 2, 9)),
        ("2024-02-29 00:00:00", dt.date(2024, 2, 29)),
        (" ", None),
    ],
)
def test_date_forms(tmp_path: Path, value: str, date: dt.date | None) -> None:
    (line,) = read(tmp_path, f"term,dos\nE11.9,{value}\n")
    assert (line.date_of_service, line.error) == (date, "")


@pytest.mark.parametrize(
    ("header", "term"),
    [
        ("dx", "dx"),
        ("Diagnosis", "Diagnosis"),
        ("description,code", "code"),
        ("code,dx", "dx"),
        ("TERM,dx", "TERM"),
    ],
)
def test_term_column_aliases_in_order_of_preference(tmp_path: Path, header: str, term: str) -> None:
    columns = header.split(",")
    row = ",".join(f"v{i}" for i in range(len(columns)))
    (line,) = read(tmp_path, f"{header}\n{row}\n")
    assert line.term == f"v{columns.index(term)}"


def test_named_columns(tmp_path: Path) -> None:
    data = "claim,dx_text,svc,term\nC1,E11.9,2024-01-02,ignored\n"
    (line,) = read(tmp_path, data, term_column="DX_TEXT", id_column="claim", dos_column="svc")
    assert (line.term, line.id, line.date_of_service, line.extra) == (
        "E11.9",
        "C1",
        dt.date(2024, 1, 2),
        {"term": "ignored"},
    )


@pytest.mark.parametrize("option", ["term_column", "id_column", "dos_column"])
def test_named_column_missing_rejects_the_file(tmp_path: Path, option: str) -> None:
    path = write(tmp_path, "term,id,dos\nE11.9,1,\n")
    with pytest.raises(FileRejected, match=rf"^{path}: no column named 'nope' in the header row"):
        open_source(path, **{option: "nope"})


@pytest.mark.parametrize("delimiter", [",", "\t", "|"])
def test_delimiters_are_sniffed(tmp_path: Path, delimiter: str) -> None:
    data = delimiter.join(["id", "term", "note"]) + "\n" + delimiter.join(["1", "E11.9", "a b; c"]) + "\n"
    (line,) = read(tmp_path, data)
    assert (line.id, line.term, line.extra, line.error) == ("1", "E11.9", {"note": "a b; c"}, "")


def test_tab_header_whose_names_contain_commas(tmp_path: Path) -> None:
    (line,) = read(tmp_path, "id\tterm\tcode, if any\n1\tE11.9\tx\n")
    assert (line.term, line.extra) == ("E11.9", {"code, if any": "x"})


def test_bom_crlf_quotes_and_embedded_newlines(tmp_path: Path) -> None:
    data = (
        "\ufeffid,term,note\r\n"
        '1,"E11.9","multi\r\nline note"\r\n'
        '2,"He said ""CHF""",x\r\n'
        "\r\n"  # an empty line: a line of its own, an error line
        "3,,y\r\n"
    )
    source = open_source(write(tmp_path, data))
    lines = list(source)
    assert source.encoding == "utf-8-sig"
    assert source.columns == ["id", "term", "note"]
    # Each entry is numbered by the physical line it starts on, the number its message names.
    assert [(line.line_no, line.id, line.term) for line in lines] == [
        (2, "1", "E11.9"),
        (4, "2", 'He said "CHF"'),
        (5, "", ""),
        (6, "3", ""),
    ]
    assert lines[2].error == "line 5: the line is blank"
    assert lines[0].extra == {"note": "multi\r\nline note"}
    # Record 3 starts on physical line 6: header 1, record 1 on lines 2-3, record 2 on 4, blank 5.
    assert lines[3].error == "line 6: term is empty"


def test_cp1252_fallback_warns(tmp_path: Path) -> None:
    path = write(tmp_path, "term,note\nM\xe9ni\xe8re disease,caf\xe9\n".encode("cp1252"))
    source = open_source(path)
    (line,) = source
    assert source.encoding == "cp1252"
    assert (line.term, line.extra, line.error) == ("Ménière disease", {"note": "café"}, "")
    assert source.warnings == [
        f"{path}: not valid UTF-8 (first bad byte at offset 11); read as Windows-1252 (cp1252). "
        "Check accented characters in the results, or export the file as UTF-8."
    ]


def test_bad_bytes_past_the_prefix_make_a_line_error(tmp_path: Path) -> None:
    good = "term,id\n" + "".join(f"E11.9,{i}\n" for i in range(PREFIX_BYTES // 8))
    count = good.count("\n") - 1
    data = good.encode() + b"Caf\xe9 \xff,bad\n" + b"I10,last\n"
    lines = read(tmp_path, data)
    assert len(lines) == count + 2
    assert lines[-2].error == f"line {count + 2}: has bytes that are not valid UTF-8"
    assert "Caf" not in lines[-2].error
    assert (lines[-1].term, lines[-1].error) == ("I10", "")


def test_old_mac_line_endings(tmp_path: Path) -> None:
    lines = read(tmp_path, "term,id\rE11.9,1\rI10,2\r")
    assert [(line.term, line.id) for line in lines] == [("E11.9", "1"), ("I10", "2")]


def test_header_only_gives_no_lines(tmp_path: Path) -> None:
    assert read(tmp_path, "term,id\n") == []


BAD_LINES = (
    "id,term,system,dos,note\n"  # line 1
    "1,E11.9,,,\n"  # 2: fine
    "2,,,,\n"  # 3: empty term
    "3,   ,,,\n"  # 4: blank term
    f"4,{'A' * 1532},,,\n"  # 5: term too long
    f"5,E11.9,,,{'n' * 1001}\n"  # 6: another column too long
    "6,Diabetes,,2024-02-30,\n"  # 7: impossible date
    "7,Diabetes,,tomorrow,\n"  # 8: not a date
    "8,Diab\x07etes,,,\n"  # 9: control character
    "9,Diab\tetes,,,\n"  # 10: tab is allowed
    "10,Diabetes,,,,extra\n"  # 11: too many fields
    "11,Diabetes\n"  # 12: too few fields
    "12,Diabetes,snomed,,\n"  # 13: unknown system
    "13\n"  # 14: term missing altogether
    '14,"Diabetes\nmellitus",,,\n'  # 15-16: line break inside the term
    "15,Diabetes,,20241301,x\n"  # 17: impossible YYYYMMDD
)


def test_every_bad_line_is_kept_with_its_line_and_problem(tmp_path: Path) -> None:
    lines = read(tmp_path, BAD_LINES)
    assert [line.line_no for line in lines] == [*range(2, 16), 17]
    assert [line.id for line in lines] == [str(n) for n in range(1, 16)]
    assert [line.error for line in lines] == [
        "",
        "line 3: term is empty",
        "line 4: term is empty",
        "line 5: term is 1,532 characters (limit 1,000)",
        "line 6: note is 1,001 characters (limit 1,000)",
        "line 7: dos '2024-02-30' is not a real date",
        "line 8: dos is not a date (use YYYY-MM-DD, YYYYMMDD or MM/DD/YYYY)",
        "line 9: term contains a control character (U+0007)",
        "",
        "line 11: has 6 fields, the header has 5",
        "line 12: has 2 fields, the header has 5",
        "line 13: system is not a known coding system (use icd10cm, icd9cm, text or auto)",
        "line 14: has 1 fields, the header has 5; term is missing",
        "line 15: term contains a line break",
        "line 17: dos '20241301' is not a real date",
    ]
    for line in lines:
        assert "Diab" not in line.error and "AAAA" not in line.error and "nnnn" not in line.error
    # The term is still carried, so the result can show the input.
    assert lines[3].term == "A" * 1532 and lines[7].term == "Diab\x07etes"


def test_unclosed_quote_at_the_end_of_the_file(tmp_path: Path) -> None:
    lines = read(tmp_path, 'id,term\n1,E11.9\n2,"Diabetes\n3,I10\n')
    assert len(lines) == 2
    assert lines[1].error == (
        "line 3: a quoted field that starts here is not closed before the end of the file; "
        "term contains a line break"
    )
    assert "Diabetes" not in lines[1].error


def test_a_huge_quoted_field_is_measured_without_being_kept_whole(tmp_path: Path) -> None:
    big = "x" * 300_000
    lines = read(tmp_path, f'id,term\n1,"{big}"\n2,"quoted, with comma"\n')
    assert lines[0].error == "line 2: term is 300,000 characters (limit 1,000)"
    assert 1000 < len(lines[0].term) < len(big)
    assert (lines[1].term, lines[1].error) == ("quoted, with comma", "")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (
            "id,name\n1,E11.9\n",
            "not X12 (no ISA segment), not JSONL, and the first line is not a header with a term",
        ),
        ("E11.9\nI10\n", "not X12 (no ISA segment), not JSONL"),
        ('"term\n', "the header row is unreadable (an unclosed quote or too long)"),
    ],
)
def test_files_without_a_usable_header_are_rejected(tmp_path: Path, data: str, problem: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(FileRejected) as raised:
        open_source(path)
    assert str(raised.value).startswith(f"{path}: {problem}")
    assert "E11.9" not in str(raised.value)


def test_forced_csv_without_term_column_says_how_to_fix(tmp_path: Path) -> None:
    path = write(tmp_path, "id,name\n1,x\n")
    with pytest.raises(FileRejected, match="rename the column or name it with term_column"):
        open_source(path, format="csv")


def test_reading_twice_gives_the_same_lines(tmp_path: Path) -> None:
    source = open_source(write(tmp_path, "term\nE11.9\nI10\n"))
    assert list(source) == list(source)


def test_pieces_of_long_lines_keep_characters_and_crlf_whole() -> None:
    data = "é" * 5 + "\r\n" + "ab\r\n" + "x" * 7
    pieces = list(iter_pieces(io.BytesIO(data.encode()), "utf-8", b"\n", piece_bytes=4))
    # Two-byte characters split across pieces still decode; the CR of a CRLF is never cut off.
    assert "".join(p.text for p in pieces if p.line_no == 1) == "é" * 5
    assert [p.terminator for p in pieces if p.ends_line] == ["\r\n", "\r\n", ""]
    assert not any(p.bad_bytes for p in pieces)
    assert [p.text for p in pieces if p.line_no == 2] == ["ab"]


def test_records_spanning_many_pieces() -> None:
    data = 'id,term\n1,"' + "a,b\n" * 50 + '"\n2,' + "z" * 100 + "\n"
    pieces = iter_pieces(io.BytesIO(data.encode()), "utf-8", b"\n", piece_bytes=7)
    records = list(iter_records(pieces, ","))
    assert [(r.line, r.field_count) for r in records] == [(1, 2), (2, 2), (53, 2)]
    assert records[1].fields[1] == "a,b\n" * 50 and records[2].fields[1] == "z" * 100


def test_a_header_starting_with_isa_is_still_csv(tmp_path: Path) -> None:
    (line,) = read(tmp_path, "ISAAC_ID,term\n1,E11.9\n")
    assert (line.term, line.extra) == ("E11.9", {"ISAAC_ID": "1"})
