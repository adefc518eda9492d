"""X12 plumbing for the 837 reader: separators from the ISA header, segment splitting, envelope checks.

A strict, small reader rather than a library: pyx12 walks a file through the full implementation
guide maps and reports every deviation through its error handler, far more than we need, and its
messages may quote element values (claims data is PHI). We need only the separators, segments,
CLM/HI/DTP and the ISA/GS/ST trailer checks, and one broken HI composite must become one error line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple, TextIO

from worker.errors import FileRejected
from worker.ingest.common import BLOCK_BYTES

ISA_LENGTH = 106  # the ISA segment is fixed-width, terminator included
# A segment this long without a terminator means the separators or the file are wrong.
MAX_SEGMENT = 1024 * 1024
_RESEND = "ask the sender to resend the complete file"
_TAG = re.compile(r"[A-Z][A-Z0-9]{1,2}")


class Separators(NamedTuple):
    element: str
    component: str
    repetition: str
    terminator: str


def read_separators(path: str, text: str) -> Separators:
    """Separators from the ISA header: element = ISA char 4, component = ISA16, terminator after it."""
    isa = text.lstrip()
    if not isa.startswith("ISA"):
        raise FileRejected(path, "does not start with an ISA segment, so it is not an X12 file")
    if len(isa) < ISA_LENGTH:
        raise FileRejected(
            path,
            f"the ISA segment is {len(isa)} characters, not {ISA_LENGTH}: the file is truncated; {_RESEND}",
        )
    element = isa[3]
    parts = isa[: ISA_LENGTH - 1].split(element)
    if element.isalnum() or element.isspace() or len(parts) != 17 or len(parts[16]) != 1:
        raise FileRejected(
            path,
            f"the ISA segment is not the fixed {ISA_LENGTH} characters X12 requires (padded elements, "
            f"16 of them); the file is damaged or truncated; {_RESEND}",
        )
    separators = Separators(element, parts[16], parts[11], isa[ISA_LENGTH - 1])
    if separators.terminator.isalnum() or len({element, separators.component, separators.terminator}) < 3:
        raise FileRejected(
            path, f"the ISA segment's separators are unusable (repeated or alphanumeric); {_RESEND}"
        )
    return separators


def iter_segments(path: str, stream: TextIO, separators: Separators) -> Iterator[tuple[int, list[str]]]:
    """(ordinal in the file, elements) for each segment; newlines around terminators are ignored.

    The last segment may lack its terminator: a missing final "~" loses nothing, the trailer
    checks still catch a real truncation.
    """
    buf = ""
    number = 0
    while True:
        chunk = stream.read(BLOCK_BYTES)
        if "\x00" in chunk:  # never stored raw (PostgreSQL text cannot hold it) nor written out
            chunk = chunk.replace("\x00", "\ufffd")
        buf += chunk
        *segments, buf = (
            buf.split(separators.terminator) if chunk else (*buf.split(separators.terminator), "")
        )
        for segment in segments:
            # Leading whitespace is the newline after the previous terminator; trailing CR/LF
            # appears when the terminator itself is a newline.
            segment = segment.lstrip().rstrip("\r\n")
            if segment:
                number += 1
                yield number, segment.split(separators.element)
        if not chunk:
            return
        if len(buf) > MAX_SEGMENT:
            raise FileRejected(
                path,
                f"segment {number + 1} runs past {MAX_SEGMENT:,} characters without a terminator; {_RESEND}",
            )


def _tag(elements: list[str]) -> str:
    # Quote a segment tag only when it looks like one: in a damaged file it could be claim data.
    return elements[0] if _TAG.fullmatch(elements[0]) else "an unrecognisable segment"


def _element(elements: list[str], index: int) -> str:
    return elements[index].strip() if index < len(elements) else ""


def _count(path: str, number: int, elements: list[str], index: int) -> int:
    value = _element(elements, index)
    if not value.isdigit():
        raise FileRejected(
            path, f"segment {number} ({_tag(elements)}) has no count in element {index:02d}; {_RESEND}"
        )
    return int(value)


_VERSIONS = ("005010X222", "005010X223")


def check_envelope(path: str, segments: Iterable[tuple[int, list[str]]], separators: Separators) -> list[str]:
    """Check every ISA/IEA, GS/GE and ST/SE pair, counts and control numbers; return warnings.

    Runs as a separate pass before any line is yielded, so a truncated or spliced file is rejected
    whole instead of half-processed. Several interchanges in one file are accepted if they share
    the first one's separators.
    """
    warnings: list[str] = []
    state = "start"
    isa_control = gs_control = st_control = ""
    gs_count = st_count = seg_count = 0
    number = 0

    def reject(problem: str) -> FileRejected:
        return FileRejected(path, f"{problem}; {_RESEND}")

    for number, elements in segments:
        tag = elements[0]
        if state in ("start", "after_iea"):
            if tag != "ISA":
                raise reject(f"segment {number} is {_tag(elements)} where an ISA header must be")
            if (
                len(elements) != 17
                or _element(elements, 16) != separators.component
                or (len(separators.element.join(elements)) != ISA_LENGTH - 1)
            ):
                raise reject(f"the ISA segment at segment {number} is malformed or uses other separators")
            isa_control, gs_count, state = _element(elements, 13), 0, "interchange"
        elif state == "interchange":
            if tag == "GS":
                gs_count, st_count = gs_count + 1, 0
                gs_control, state = _element(elements, 6), "group"
                version = _element(elements, 8)
                if not version.startswith(_VERSIONS):
                    shown = (
                        repr(version) if re.fullmatch(r"[0-9A-Z]{0,12}", version) else "an unknown version"
                    )
                    warnings.append(
                        f"{path}: GS08 is {shown}, not 005010X222 (837P) or 005010X223 (837I); "
                        "read as an 837 anyway"
                    )
            elif tag == "IEA":
                if _count(path, number, elements, 1) != gs_count or _element(elements, 2) != isa_control:
                    raise reject(
                        f"the IEA trailer at segment {number} does not match its ISA "
                        "(group count or control number)"
                    )
                state = "after_iea"
            elif tag != "TA1":  # an interchange acknowledgment may sit here
                raise reject(f"segment {number} is {_tag(elements)} outside a functional group (GS)")
        elif state == "group":
            if tag == "ST":
                if _element(elements, 1) != "837":
                    kind = (
                        repr(_element(elements, 1))
                        if _element(elements, 1).isdigit()
                        else "of an unknown type"
                    )
                    raise FileRejected(
                        path,
                        f"transaction set {kind} at segment {number} is not an 837 claim; "
                        "send 837P or 837I files",
                    )
                st_control, st_count, seg_count, state = _element(elements, 2), st_count + 1, 1, "transaction"
            elif tag == "GE":
                if _count(path, number, elements, 1) != st_count or _element(elements, 2) != gs_control:
                    raise reject(
                        f"the GE trailer at segment {number} does not match its GS "
                        "(transaction count or control number)"
                    )
                state = "interchange"
            else:
                raise reject(f"segment {number} is {_tag(elements)} outside a transaction set (ST)")
        else:  # inside a transaction set
            seg_count += 1
            if tag == "SE":
                expected = _count(path, number, elements, 1)
                if expected != seg_count:
                    raise reject(
                        f"the transaction set ending at segment {number} has {seg_count:,} segments "
                        f"but SE01 says {expected:,}: the file is damaged or truncated"
                    )
                if _element(elements, 2) != st_control:
                    raise reject(f"the SE trailer at segment {number} does not match its ST control number")
                state = "group"
            elif tag in ("ISA", "IEA", "GS", "GE", "ST"):
                raise reject(
                    f"X12 file is truncated: a transaction set has no SE trailer before segment {number}"
                )
    missing = {
        "start": "no segments after ISA",
        "interchange": "no IEA trailer",
        "group": "no GE trailer",
        "transaction": "no SE trailer",
    }
    if state in missing:
        raise reject(f"X12 file is truncated: {missing[state]} (it ends at segment {number})")
    return warnings
