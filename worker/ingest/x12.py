"""The X12 837 reader (professional 005010X222 and institutional 005010X223): one line per diagnosis.

Every diagnosis composite of every HI segment becomes one SourceLine, in file order:
- line_no is the diagnosis's ordinal in the file; id is f"{CLM01}:{position}", position counting the
  claim's diagnoses from 1 (broken composites included, so positions match the file);
- the qualifier decides the system: ABK principal, ABF other, ABJ admitting, APR reason for visit,
  ABN external cause -> icd10cm; BK, BF, BJ, PR, BN -> icd9cm. extra holds claim_id, qualifier,
  principal ("Y" for ABK/BK, else "N") and poa when the composite carries a present-on-admission flag;
- HI composites that are not diagnoses (procedures BBR/BBQ/BR/BQ/CAH, anesthesia BP/BO, occurrence
  BH, occurrence span BI, value BE, condition BG, treatment TC, DRG DR) are skipped: they are not data
  lines, so they take no line_no and no position;
- date of service: the claim's DTP*472 (D8, or RD8 start), else its DTP*434 statement dates (start),
  else the first service line's DTP*472;
- a composite with no qualifier, an unknown qualifier or an empty code is an error line.
The whole envelope is checked before the first line is yielded (see x12envelope.check_envelope), so
an X12 file is read twice. Grouping by claim: claim_id(line), or Source.claim_ids() for the order.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from worker import contract
from worker.ingest.common import (
    Encoding,
    Source,
    SourceLine,
    choose_encoding,
    length_problem,
    open_binary,
    term_problem,
)
from worker.ingest.x12envelope import Separators, check_envelope, iter_segments, read_separators

_ICD10, _ICD9 = contract.SYSTEM_ICD10CM, contract.SYSTEM_ICD9CM
# qualifier -> (system, principal)
DIAGNOSIS_QUALIFIERS = {
    "ABK": (_ICD10, True),
    "ABF": (_ICD10, False),
    "ABJ": (_ICD10, False),
    "APR": (_ICD10, False),
    "ABN": (_ICD10, False),
    "BK": (_ICD9, True),
    "BF": (_ICD9, False),
    "BJ": (_ICD9, False),
    "PR": (_ICD9, False),
    "BN": (_ICD9, False),
}
SKIPPED_QUALIFIERS = frozenset(
    {"BBR", "BBQ", "BR", "BQ", "CAH", "BP", "BO", "BH", "BI", "BE", "BG", "TC", "DR"}
)
# Segments that close the claim (loop 2300 and its service lines) being read.
_CLAIM_ENDS = frozenset({"HL", "CLM", "SE", "ST", "GE", "GS", "IEA", "ISA"})
_POA = 8  # HI composite component 9: present on admission (837I)


def claim_id(line: SourceLine) -> str:
    """The CLM01 a line came from, for grouping results by claim ('' for CSV/JSONL lines)."""
    if line.extra and "claim_id" in line.extra:
        return line.extra["claim_id"]
    return ""


class _Diagnosis(NamedTuple):
    line_no: int
    position: int
    segment: int
    element: int
    system: str
    qualifier: str
    principal: bool
    code: str
    poa: str
    problem: str


class _DateSource(NamedTuple):
    segment: int
    qualifier: str  # 472 or 434
    format: str  # D8, RD8
    value: str


class _Claim:
    def __init__(self, clm01: str, segment: int) -> None:
        self.clm01 = clm01
        self.segment = segment
        self.diagnoses: list[_Diagnosis] = []
        self.claim_dates: dict[str, _DateSource] = {}
        self.line_date: _DateSource | None = None
        self.in_service_lines = False


def _composite(composite: str, component: str) -> tuple[str, bool, str, str, str, str] | None:
    """(system, principal, qualifier, code, poa, problem) for one HI element; None when skipped."""
    if not composite.strip():
        return None  # an empty element between composites carries nothing
    parts = composite.split(component)
    qualifier = parts[0].strip()
    code = parts[1] if len(parts) > 1 else ""
    poa = parts[_POA].strip() if len(parts) > _POA else ""
    if qualifier in SKIPPED_QUALIFIERS:
        return None
    if not qualifier:
        return contract.SYSTEM_AUTO, False, "", code, poa, "qualifier is missing"
    if qualifier not in DIAGNOSIS_QUALIFIERS:
        # Quoted only when it looks like a qualifier (letters): codes always have digits, and a
        # composite without its qualifier puts the code first.
        shown = f"qualifier {qualifier!r}" if re.fullmatch(r"[A-Z]{1,3}", qualifier) else "the qualifier"
        return (
            contract.SYSTEM_AUTO,
            False,
            qualifier,
            code,
            poa,
            f"{shown} is not a diagnosis code list qualifier",
        )
    system, principal = DIAGNOSIS_QUALIFIERS[qualifier]
    problem = length_problem("code", len(code)) or term_problem("code", code) or ""
    if not problem and "\ufffd" in code:  # the segments are decoded with errors="replace"
        problem = "code has bytes that could not be decoded"
    return system, principal, qualifier, code, poa, problem


def _date(source: _DateSource | None) -> tuple[dt.date | None, str]:
    if source is None:
        return None, ""
    where = f"date of service (segment {source.segment} DTP*{source.qualifier})"
    if source.format == "D8":
        digits = source.value
    elif source.format == "RD8":
        digits = source.value.partition("-")[0]
    else:
        return None, f"{where} is not in D8 or RD8 format"
    if not re.fullmatch(r"\d{8}", digits):
        return None, f"{where} is not a CCYYMMDD date"
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:])), ""
    except ValueError:
        return None, f"{where} '{digits}' is not a real date"


def _lines(claim: _Claim) -> Iterator[SourceLine]:
    source = claim.claim_dates.get("472") or claim.claim_dates.get("434") or claim.line_date
    date_of_service, date_problem = _date(source)
    for dx in claim.diagnoses:
        problems = [p for p in (dx.problem, date_problem) if p]
        if not claim.clm01:
            problems.append(f"the claim at segment {claim.segment} has no CLM01 (patient control number)")
        extra = {
            "claim_id": claim.clm01,
            "qualifier": dx.qualifier,
            "principal": "Y" if dx.principal else "N",
        }
        if dx.poa:
            extra["poa"] = dx.poa
        yield SourceLine(
            line_no=dx.line_no,
            term=dx.code,
            id=f"{claim.clm01}:{dx.position}",
            system=dx.system,
            date_of_service=date_of_service,
            extra=extra,
            error=f"line {dx.line_no}: segment {dx.segment} HI{dx.element:02d}: " + "; ".join(problems)
            if problems
            else "",
        )


def iter_diagnoses(segments: Iterable[tuple[int, list[str]]], separators: Separators) -> Iterator[SourceLine]:
    """SourceLines from segments; a claim's lines are held until the claim ends, for its dates."""
    claim: _Claim | None = None
    line_no = 0
    for number, elements in segments:
        tag = elements[0]
        if tag in _CLAIM_ENDS:
            if claim is not None:
                yield from _lines(claim)
                claim = None
            if tag == "CLM":
                claim = _Claim(elements[1].strip() if len(elements) > 1 else "", number)
        elif tag == "HI":
            for index, composite in enumerate(elements[1:], 1):
                parsed = _composite(composite, separators.component)
                if parsed is None:
                    continue
                system, principal, qualifier, code, poa, problem = parsed
                line_no += 1
                if claim is None:
                    where = f"line {line_no}: segment {number} HI{index:02d}"
                    error = f"{where}: not inside a claim (no CLM before it)"
                    extra = {"claim_id": "", "qualifier": qualifier, "principal": "Y" if principal else "N"}
                    yield SourceLine(line_no=line_no, term=code, system=system, extra=extra, error=error)
                    continue
                position = len(claim.diagnoses) + 1
                claim.diagnoses.append(
                    _Diagnosis(
                        line_no, position, number, index, system, qualifier, principal, code, poa, problem
                    )
                )
        elif claim is not None and tag == "LX":
            claim.in_service_lines = True
        elif claim is not None and tag == "DTP" and len(elements) >= 4:
            source = _DateSource(number, elements[1], elements[2], elements[3])
            if not claim.in_service_lines and source.qualifier in ("472", "434"):
                claim.claim_dates.setdefault(source.qualifier, source)
            elif claim.in_service_lines and source.qualifier == "472" and claim.line_date is None:
                claim.line_date = source
    if claim is not None:
        yield from _lines(claim)


@contextlib.contextmanager
def _segments(
    path: str | os.PathLike[str], encoding: Encoding, separators: Separators
) -> Iterator[Iterator[tuple[int, list[str]]]]:
    with open_binary(path) as stream:
        stream.seek(encoding.skip)
        # X12 is ASCII in practice; a stray byte is replaced rather than failing the claim.
        text = io.TextIOWrapper(stream, encoding=encoding.codec, errors="replace", newline="")
        yield iter_segments(os.fspath(path), text, separators)


def open_x12(path: str | os.PathLike[str], prefix: bytes, whole: bool) -> Source:
    """Check the separators and the whole envelope now (raising FileRejected); stream diagnoses later."""
    name = os.fspath(path)
    encoding = choose_encoding(name, prefix, whole)
    separators = read_separators(name, prefix[encoding.skip :].decode(encoding.codec, errors="replace"))
    warnings = [encoding.warning] if encoding.warning else []
    with _segments(path, encoding, separators) as segments:
        warnings += check_envelope(name, segments, separators)

    def read() -> Iterator[SourceLine]:
        with _segments(path, encoding, separators) as segments:
            yield from iter_diagnoses(segments, separators)

    return Source(path, "x12", encoding.label, read, warnings=warnings)
