"""Builds small 837 files for tests: claim segments in, a complete envelope with correct counts out."""

from __future__ import annotations

from pathlib import Path


def isa(element: str = "*", component: str = ":", control: str = "000000001", repetition: str = "^") -> str:
    """A fixed-width ISA segment (105 characters, terminator not included)."""
    parts = [
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        "ZZ",
        "SUBMITTER".ljust(15),
        "ZZ",
        "RECEIVER".ljust(15),
        "240115",
        "1253",
        repetition,
        "00501",
        control,
        "0",
        "P",
        component,
    ]
    segment = element.join(parts)
    assert len(segment) == 105
    return segment


HEADER = [
    "BHT*0019*00*0123*20240115*1253*CH",
    "NM1*41*2*BILLING SERVICE*****46*TGJ23",
    "HL*1**20*1",
    "NM1*85*2*CLINIC*****XX*9876543210",
    "HL*2*1*22*0",
    "SBR*P*18*******CI",
    "NM1*IL*1*DOE*PAT****MI*000221111A",
]


def transaction(body: list[str], control: str = "0001", version: str = "005010X222A1") -> list[str]:
    """ST..SE around `body` (segments written with * and :), SE01 counted."""
    segments = [f"ST*837*{control}*{version}", *body]
    return [*segments, f"SE*{len(segments) + 1}*{control}"]


def interchange(*transactions: list[str], version: str = "005010X222A1") -> list[str]:
    segments = [f"GS*HC*SUBMITTER*RECEIVER*20240115*1253*7*X*{version}"]
    for tx in transactions:
        segments += tx
    return [*segments, f"GE*{len(transactions)}*7", "IEA*1*000000001"]


def render(
    segments: list[str],
    *,
    element: str = "*",
    component: str = ":",
    terminator: str = "~",
    newline: str = "\n",
) -> str:
    """The file text: an ISA with these separators, then `segments` with * and : swapped in."""
    out = [isa(element, component)]
    out += [s.replace("*", element).replace(":", component) for s in segments]
    return "".join(s + terminator + newline for s in out)


def claims_file(body: list[str], **kwargs: str) -> str:
    """One interchange, one transaction set, the standard header, then `body` (claims)."""
    return render(interchange(transaction(HEADER + body)), **kwargs)


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path
