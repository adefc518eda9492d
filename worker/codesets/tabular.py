"""Read the CMS ICD-10-CM tabular XML: every code, 7th characters expanded, titles, inclusion terms."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from worker.codesets.model import CodeRow, TermRow, dot_icd10
from worker.errors import SourceDataError


def file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_tabular(path: Path) -> tuple[list[CodeRow], list[TermRow]]:
    """Parse the tabular list; raises SourceDataError naming the file if it is not one.

    Codes under a `sevenChrDef` are billable only with their 7th character: each leaf there is
    expanded into real codes, padded with placeholder X to six characters (W01.0 -> W01.0XXA),
    and the leaf itself becomes a header.
    """
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise SourceDataError(f"{path}: file not found") from None
    except ET.ParseError as exc:
        raise SourceDataError(f"{path}: not well-formed XML ({exc}); re-download the file") from None
    if root.tag != "ICD10CM.tabular":
        raise SourceDataError(
            f"{path}: root element is <{root.tag}>, expected <ICD10CM.tabular> (CMS tabular XML)"
        )
    codes: list[CodeRow] = []
    terms: list[TermRow] = []
    categories = [d for chapter in root.iter("chapter") for s in chapter.iter("section")
                  for d in s.findall("diag")]
    if not categories:
        raise SourceDataError(f"{path}: no <chapter>/<section>/<diag> codes found; is it truncated?")
    for diag in categories:
        _walk(diag, parent=None, level=1, seventh=None, codes=codes, terms=terms)
    return codes, terms


# The tabular states some 7th-character exceptions only in prose, e.g. under S06: "7th characters
# D and S do not apply to codes in category S06 with 6th character 7 - ..., or 8 - ...".
_EXCEPTION = re.compile(
    r"7th characters? ((?:[A-Z](?:, | and | or )?)+) do not apply to codes .*? with 6th character "
    r"(\d)(?:.*?, or (\d))?"
)


@dataclasses.dataclass(frozen=True, slots=True)
class _Seventh:
    extensions: dict[str, str]  # character -> meaning
    excluded: tuple[tuple[frozenset[str], frozenset[str]], ...] = ()  # (7th chars, 6th chars)

    def characters_for(self, base: str) -> list[tuple[str, str]]:
        sixth = base[5] if len(base) > 5 else ""
        return [
            (char, meaning)
            for char, meaning in self.extensions.items()
            if not any(char in chars and sixth in sixths for chars, sixths in self.excluded)
        ]


def _seventh_characters(diag: ET.Element) -> _Seventh | None:
    definition = diag.find("sevenChrDef")
    if definition is None:
        return None
    extensions = {
        (ext.get("char") or "").upper(): " ".join((ext.text or "").split())
        for ext in definition.findall("extension")
    }
    excluded = []
    for note in diag.iterfind("notes/note"):
        match = _EXCEPTION.search(" ".join((note.text or "").split()))
        if match:
            chars = frozenset(re.findall(r"[A-Z]", match.group(1)))
            sixths = frozenset(g for g in match.groups()[1:] if g)
            excluded.append((chars, sixths))
    return _Seventh(extensions, tuple(excluded))


def _walk(
    diag: ET.Element,
    *,
    parent: str | None,
    level: int,
    seventh: _Seventh | None,
    codes: list[CodeRow],
    terms: list[TermRow],
) -> None:
    name = (diag.findtext("name") or "").strip()
    title = " ".join((diag.findtext("desc") or "").split())
    if not name or not title:
        raise SourceDataError(f"tabular XML: a <diag> under {parent or 'a section'} has no name/desc")
    code = dot_icd10(name)
    seventh = _seventh_characters(diag) or seventh
    children = diag.findall("diag")
    expand = not children and seventh is not None
    codes.append(CodeRow(code, title, billable=not children and not expand, parent=parent,
                         level=level))
    terms.append(TermRow(code, title, "title"))
    for tag in ("inclusionTerm", "includes"):
        for block in diag.findall(tag):
            for note in block.findall("note"):
                text = " ".join((note.text or "").split())
                if text:
                    terms.append(TermRow(code, text, "inclusion"))
    for child in children:
        _walk(child, parent=code, level=level + 1, seventh=seventh, codes=codes, terms=terms)
    if expand:
        assert seventh is not None
        base = code.replace(".", "").ljust(6, "X")
        for char, meaning in seventh.characters_for(base):
            full = dot_icd10(base + char)
            full_title = f"{title}, {meaning}" if meaning else title
            codes.append(CodeRow(full, full_title, billable=True, parent=code, level=level + 1))
            terms.append(TermRow(full, full_title, "title"))


def billable_codes_in_code_list(path: Path) -> set[str]:
    """Leaves of the package's flat code list (chapters, blocks, categories, codes in order)."""
    try:
        lines = [line.strip().upper() for line in path.read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError:
        raise SourceDataError(f"{path}: code list not found") from None
    entries = [line for line in lines if line and "-" not in line and not line.isdigit()]
    leaves = set()
    for current, following in zip(entries, [*entries[1:], ""], strict=True):
        if not following.startswith(current):
            leaves.add(dot_icd10(current))
    return leaves
