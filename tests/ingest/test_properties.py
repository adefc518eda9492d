"""Property tests: any bytes are either lines or FileRejected, and N records in give N lines out."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ingest import x12build
from worker.errors import FileRejected
from worker.ingest import SourceLine, open_source

# Modest by default so the suite stays fast; INGEST_EXAMPLES=5000 for a deeper local run.
EXAMPLES = int(os.environ.get("INGEST_EXAMPLES", "200"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def read_all(data: bytes, **options: str) -> list[SourceLine] | None:
    """Every line of `data`, or None if it was rejected; any other exception fails the test."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload"
        path.write_bytes(data)
        try:
            return list(open_source(path, **options))
        except FileRejected:
            return None


@SETTINGS
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_are_lines_or_rejected(data: bytes) -> None:
    read_all(data)


@SETTINGS
@given(
    st.sampled_from(
        [b"term,id\n", b"\xef\xbb\xbfid\tdx\r\n", b'{"term": "x"}\n', x12build.isa().encode() + b"~"]
    ),
    st.binary(max_size=2000),
)
def test_arbitrary_bytes_after_a_valid_start(start: bytes, rest: bytes) -> None:
    # Gets past detection into the readers' line handling.
    read_all(start + rest)


@SETTINGS
@given(st.lists(st.text(max_size=200), max_size=20), st.sampled_from(["csv", "jsonl", "x12"]))
def test_arbitrary_text_with_a_forced_format(lines: list[str], format: str) -> None:
    read_all("\n".join(lines).encode("utf-8"), format=format)


# Text with what breaks naive CSV handling: delimiters, quotes, CR and LF, U+2028 and NEL-like
# characters. Control characters other than tab/CR/LF are left out because a file full of them is
# rejected as binary, which is not what this property is about.
CELL = st.text(
    alphabet=st.one_of(
        st.sampled_from([",", "\t", "|", '"', "'", "\r", "\n", " ", "\u2028", "\ufeff"]),
        st.characters(exclude_categories=("Cs", "Cc")),
    ),
    max_size=30,
)


@SETTINGS
@given(
    rows=st.lists(st.lists(CELL, min_size=1, max_size=4), max_size=25),
    delimiter=st.sampled_from([",", "\t", "|"]),
    terminator=st.sampled_from(["\r\n", "\n"]),
    bom=st.booleans(),
)
def test_csv_records_in_equal_lines_out(
    rows: list[list[str]], delimiter: str, terminator: str, bom: bool
) -> None:
    buffer = io.StringIO()
    # With an LF terminator csv.writer leaves a CR unquoted, so a row ending in a bare CR would be
    # written as a CRLF line end (csv.reader cannot read it back either): quote everything then.
    ambiguous = terminator == "\n" and any(row[-1].endswith("\r") for row in rows)
    writer = csv.writer(
        buffer,
        delimiter=delimiter,
        lineterminator=terminator,
        quoting=csv.QUOTE_ALL if ambiguous else csv.QUOTE_MINIMAL,
    )
    writer.writerow(["id", "term", "note"])
    starts = []  # the physical line each record starts on: the header is line 1
    for row in rows:
        starts.append(buffer.getvalue().count("\n") + 1)
        writer.writerow(row)
    lines = read_all(("\ufeff" if bom else "").encode() + buffer.getvalue().encode("utf-8"))
    assert lines is not None
    assert [line.line_no for line in lines] == starts
    for row, line in zip(rows, lines, strict=True):
        if len(row) == 3:
            assert (line.id, line.term, line.extra) == (row[0], row[1], {"note": row[2]})
            assert line.error.startswith("line ") or line.error == ""
        else:
            assert line.error.startswith("line ") and f"has {len(row)} fields, the header has 3" in line.error


JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@SETTINGS
@given(
    objects=st.lists(st.dictionaries(st.text(max_size=8), JSON_VALUE, max_size=6), min_size=1, max_size=25),
    ascii_only=st.booleans(),
    blank_every=st.integers(min_value=0, max_value=4),
)
def test_jsonl_objects_in_equal_lines_out(
    objects: list[dict[str, object]], ascii_only: bool, blank_every: int
) -> None:
    out = []
    for n, obj in enumerate(objects):
        tagged = {k: v for k, v in obj.items() if k.lower() != "seq"} | {"seq": n}
        out.append(json.dumps(tagged, ensure_ascii=ascii_only))
        if blank_every and n % blank_every == 0:
            out.append("  ")  # a blank line: a line of its own unless no object follows it
    lines = read_all("\n".join(out).encode("utf-8"), format="jsonl")
    assert lines is not None
    while out[-1] == "  ":
        out.pop()
    assert [line.line_no for line in lines] == list(range(1, len(out) + 1))
    blank = [n for n, text in enumerate(out, 1) if text == "  "]
    assert [line.line_no for line in lines if line.error.endswith("the line is blank")] == blank
    objects_read = [line for line in lines if line.line_no not in blank]
    assert [(line.extra or {}).get("seq") for line in objects_read] == [
        str(n) for n in range(len(objects))]


@SETTINGS
@given(
    st.lists(st.lists(st.text(alphabet="ABKFZ0123456789:.", max_size=8), min_size=1, max_size=5), max_size=6)
)
def test_x12_every_hi_composite_is_one_line_or_skipped(hi_segments: list[list[str]]) -> None:
    body = ["CLM*C1*10"] + ["HI*" + "*".join(composites) for composites in hi_segments]
    lines = read_all(x12build.claims_file(body).encode())
    assert lines is not None
    assert [line.line_no for line in lines] == list(range(1, len(lines) + 1))
    assert [line.id for line in lines] == [f"C1:{n}" for n in range(1, len(lines) + 1)]
    composites = [c for segment in hi_segments for c in segment if c.strip()]
    assert len(lines) <= len(composites)
