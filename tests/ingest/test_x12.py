"""The X12 837 reader: real-shaped 837P/837I files, broken HI composites, and rejected envelopes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.ingest import x12build
from worker.errors import FileRejected
from worker.ingest import SourceLine, claim_id, open_source

DATA = Path(__file__).parent / "data"
D = dt.date


def brief(lines: list[SourceLine]) -> list[tuple[int, str, str, str, dt.date | None, str, str]]:
    return [
        (
            line.line_no,
            line.id,
            line.term,
            line.system,
            line.date_of_service,
            (line.extra or {}).get("qualifier", ""),
            (line.extra or {}).get("principal", ""),
        )
        for line in lines
    ]


def test_837p_with_star_colon_and_newlines() -> None:
    source = open_source(DATA / "837p_star_colon_newlines.x12")
    lines = list(source)
    assert source.format == "x12"
    assert source.warnings == []
    assert all(line.error == "" for line in lines)
    assert brief(lines) == [
        # No claim-level DTP*472: the first service line's date.
        (1, "PATIENT1-CLM:1", "E119", "icd10cm", D(2024, 1, 5), "ABK", "Y"),
        (2, "PATIENT1-CLM:2", "I10", "icd10cm", D(2024, 1, 5), "ABF", "N"),
        (3, "PATIENT1-CLM:3", "E785", "icd10cm", D(2024, 1, 5), "ABF", "N"),
        (4, "PATIENT1-CLM:4", "Z7984", "icd10cm", D(2024, 1, 5), "ABF", "N"),
        # ICD-9 qualifiers; the claim-level DTP*472 wins over the line's; BP/BO/BG composites skipped.
        (5, "PATIENT2-CLM:1", "25000", "icd9cm", D(2015, 9, 10), "BK", "Y"),
        (6, "PATIENT2-CLM:2", "4019", "icd9cm", D(2015, 9, 10), "BF", "N"),
        # Second transaction set in the same group; no date anywhere.
        (7, "PATIENT3-CLM:1", "J449", "icd10cm", None, "ABK", "Y"),
    ]
    assert source.claim_ids() == ["PATIENT1-CLM", "PATIENT2-CLM", "PATIENT3-CLM"]
    assert [claim_id(line) for line in lines] == ["PATIENT1-CLM"] * 4 + ["PATIENT2-CLM"] * 2 + [
        "PATIENT3-CLM"
    ]


def test_837i_with_pipe_caret_on_one_line() -> None:
    path = DATA / "837i_pipe_caret_one_line.x12"
    assert b"\n" not in path.read_bytes()
    source = open_source(path)
    lines = list(source)
    assert all(line.error == "" for line in lines)
    assert brief(lines) == [
        # DTP*434 statement dates RD8 20240210-20240214: the start; BBR/BH/BE/BG skipped.
        (1, "756048Q:1", "J189", "icd10cm", D(2024, 2, 10), "ABK", "Y"),
        (2, "756048Q:2", "R0602", "icd10cm", D(2024, 2, 10), "ABJ", "N"),
        (3, "756048Q:3", "R079", "icd10cm", D(2024, 2, 10), "APR", "N"),
        (4, "756048Q:4", "E119", "icd10cm", D(2024, 2, 10), "ABF", "N"),
        (5, "756048Q:5", "I10", "icd10cm", D(2024, 2, 10), "ABF", "N"),
        (6, "756048Q:6", "Z794", "icd10cm", D(2024, 2, 10), "ABF", "N"),
        # No claim date: the first service line's DTP*472, not the second's.
        (7, "LEGACY-ICD9:1", "486", "icd9cm", D(2015, 9, 1), "BK", "Y"),
        (8, "LEGACY-ICD9:2", "25000", "icd9cm", D(2015, 9, 1), "BF", "N"),
        (9, "LEGACY-ICD9:3", "4019", "icd9cm", D(2015, 9, 1), "BF", "N"),
    ]
    assert [(line.extra or {}).get("poa") for line in lines[:6]] == ["Y", None, None, "Y", "N", "U"]
    assert source.claim_ids() == ["756048Q", "LEGACY-ICD9"]


def test_claim_level_472_wins_over_434(tmp_path: Path) -> None:
    body = [
        "CLM*C1*10***11:B:1",
        "DTP*434*RD8*20240301-20240305",
        "DTP*472*D8*20240303",
        "HI*ABK:E119",
        "LX*1",
        "DTP*472*D8*20240309",
    ]
    (line,) = open_source(x12build.write(tmp_path / "c.x12", x12build.claims_file(body)))
    assert line.date_of_service == D(2024, 3, 3)


def test_crlf_after_terminators_and_bom_and_leading_whitespace(tmp_path: Path) -> None:
    text = "\ufeff \r\n" + x12build.claims_file(["CLM*C1*10", "HI*ABK:E119*ABF:I10"], newline="\r\n")
    lines = list(open_source(x12build.write(tmp_path / "c.edi", text)))
    assert [(line.id, line.term) for line in lines] == [("C1:1", "E119"), ("C1:2", "I10")]


def test_newline_as_the_segment_terminator(tmp_path: Path) -> None:
    text = x12build.claims_file(["CLM*C1*10", "HI*ABK:E119"], terminator="\n", newline="")
    (line,) = open_source(x12build.write(tmp_path / "c.x12", text))
    assert (line.id, line.term, line.error) == ("C1:1", "E119", "")


def test_broken_composites_become_error_lines_and_keep_positions(tmp_path: Path) -> None:
    body = [
        "CLM*C1*10",
        "DTP*472*D8*20240105",
        # 1 ok; 2 no qualifier; 3 unknown letter qualifier; 4 a code where the qualifier should be;
        # 5 empty code; (skipped empty element); 6 ok.
        "HI*ABK:E119*:I10*ZZ:E785**E6601*ABF:",
        "HI*BG:01*ABF:Z7984",
    ]
    lines = list(open_source(x12build.write(tmp_path / "c.x12", x12build.claims_file(body))))
    hi = 3 + len(x12build.HEADER) + 2 + 1
    assert [(line.line_no, line.id) for line in lines] == [(n, f"C1:{n}") for n in range(1, 7)]
    assert [line.error for line in lines] == [
        "",
        f"line 2: segment {hi} HI02: qualifier is missing",
        f"line 3: segment {hi} HI03: qualifier 'ZZ' is not a diagnosis code list qualifier",
        f"line 4: segment {hi} HI05: the qualifier is not a diagnosis code list qualifier",
        f"line 5: segment {hi} HI06: code is empty",
        "",
    ]
    assert (
        lines[5].error == ""
        and lines[5].term == "Z7984"
        and lines[5].extra == {"claim_id": "C1", "qualifier": "ABF", "principal": "N"}
    )
    for line in lines:
        for code in ("E119", "I10", "E785", "E6601"):
            assert code not in line.error
    assert all(line.date_of_service == D(2024, 1, 5) for line in lines)


def test_impossible_claim_date_is_an_error_on_each_line(tmp_path: Path) -> None:
    body = ["CLM*C1*10", "DTP*472*D8*20240230", "HI*ABK:E119*ABF:I10"]
    lines = list(open_source(x12build.write(tmp_path / "c.x12", x12build.claims_file(body))))
    dtp = 3 + len(x12build.HEADER) + 2
    assert [line.error for line in lines] == [
        f"line {n}: segment {dtp + 1} HI0{n}: date of service (segment {dtp} DTP*472) "
        "'20240230' is not a real date"
        for n in (1, 2)
    ]
    assert [line.date_of_service for line in lines] == [None, None]


def test_hi_outside_a_claim_and_claim_without_clm01(tmp_path: Path) -> None:
    body = ["HI*ABK:E119", "CLM**10", "HI*ABK:I10"]
    lines = list(open_source(x12build.write(tmp_path / "c.x12", x12build.claims_file(body))))
    first = 3 + len(x12build.HEADER) + 1
    assert [line.error for line in lines] == [
        f"line 1: segment {first} HI01: not inside a claim (no CLM before it)",
        f"line 2: segment {first + 2} HI01: "
        f"the claim at segment {first + 1} has no CLM01 (patient control number)",
    ]
    assert [line.id for line in lines] == ["", ":1"]


def test_several_interchanges_in_one_file(tmp_path: Path) -> None:
    one = x12build.claims_file(["CLM*A*1", "HI*ABK:E119"])
    two = x12build.claims_file(["CLM*B*1", "HI*BK:25000"])
    lines = list(open_source(x12build.write(tmp_path / "c.x12", one + two)))
    assert [(line.line_no, line.id, line.system) for line in lines] == [
        (1, "A:1", "icd10cm"),
        (2, "B:1", "icd9cm"),
    ]


def test_unknown_version_is_a_warning(tmp_path: Path) -> None:
    text = x12build.render(
        x12build.interchange(x12build.transaction(["CLM*A*1", "HI*ABK:E119"]), version="004010X098A1")
    )
    source = open_source(x12build.write(tmp_path / "c.x12", text))
    assert len(list(source)) == 1
    assert source.warnings == [
        f"{tmp_path / 'c.x12'}: GS08 is '004010X098A1', not 005010X222 (837P) or "
        "005010X223 (837I); read as an 837 anyway"
    ]


GOOD = x12build.claims_file(["CLM*C1*10", "HI*ABK:E119"])


def _drop_segment(text: str, tag: str) -> str:
    return "".join(s + "~\n" for s in text.split("~\n") if s and not s.startswith(tag + "*"))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (_drop_segment(GOOD, "IEA"), "X12 file is truncated: no IEA trailer"),
        (_drop_segment(_drop_segment(GOOD, "IEA"), "GE"), "X12 file is truncated: no GE trailer"),
        (GOOD.split("SE*")[0], "X12 file is truncated: no SE trailer"),
        (GOOD[:80], "the ISA segment is 80 characters, not 106: the file is truncated"),
        (
            GOOD.replace("HI*ABK:E119~\n", ""),
            "has 10 segments but SE01 says 11: the file is damaged or truncated",
        ),
        (GOOD.replace("HI*ABK:E119~\n", "HI*ABK:E119~\nHI*ABF:I10~\n"), "has 12 segments but SE01 says 11"),
        (GOOD.replace("SE*11*0001", "SE*11*0002"), "does not match its ST control number"),
        (GOOD.replace("GE*1*7", "GE*2*7"), "the GE trailer at segment 14 does not match its GS"),
        (
            GOOD.replace("IEA*1*000000001", "IEA*1*000000009"),
            "the IEA trailer at segment 15 does not match its ISA",
        ),
        (GOOD.replace("ST*837*", "ST*835*"), "transaction set '835' at segment 3 is not an 837 claim"),
        (GOOD.replace("GS*", "XX*", 1), "segment 2 is XX outside a functional group (GS)"),
        (GOOD.replace("    *ZZ*", "*ZZ*", 1), "the ISA segment is not the fixed 106 characters"),
        (GOOD + "junk~\n", "segment 16 is an unrecognisable segment where an ISA header must be"),
    ],
    ids=[
        "no-IEA",
        "no-GE",
        "no-SE",
        "short-ISA",
        "SE-count-low",
        "SE-count-high",
        "SE-control",
        "GE-count",
        "IEA-control",
        "not-837",
        "no-GS",
        "ISA-not-fixed-width",
        "trailing-junk",
    ],
)
def test_bad_envelopes_reject_the_file(tmp_path: Path, text: str, problem: str) -> None:
    path = x12build.write(tmp_path / "claims.x12", text)
    with pytest.raises(FileRejected) as raised:
        open_source(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ")
    assert problem in message
    assert "E119" not in message


def test_rejection_happens_before_any_line(tmp_path: Path) -> None:
    # A valid first claim, then a truncated tail: nothing may be yielded at all.
    text = x12build.claims_file(["CLM*C1*10", "HI*ABK:E119"] + ["CLM*C2*10", "HI*ABK:I10"] * 50)
    path = x12build.write(tmp_path / "c.x12", text[: len(text) - 40])
    with pytest.raises(FileRejected, match="truncated"):
        open_source(path)


def test_segment_without_terminator_for_a_megabyte_is_rejected(tmp_path: Path) -> None:
    path = x12build.write(tmp_path / "c.x12", x12build.isa() + "~GS*" + "A" * (1024 * 1024 + 10))
    with pytest.raises(FileRejected, match="without a terminator"):
        open_source(path)


def test_undecodable_byte_in_a_code_is_an_error_line(tmp_path: Path) -> None:
    # Not UTF-8, so read as cp1252, where 0x81 is undefined.
    text = x12build.claims_file(["CLM*C1*10", "HI*ABK:E1\x819*ABF:I10"])
    path = tmp_path / "c.x12"
    path.write_bytes(text.encode("latin-1"))
    source = open_source(path)
    lines = list(source)
    assert source.encoding == "cp1252" and len(source.warnings) == 1
    assert lines[0].error.endswith("HI01: code has bytes that could not be decoded")
    assert lines[1].error == ""
