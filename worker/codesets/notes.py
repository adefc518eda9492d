"""The tabular's instructional notes that claim edits check: Excludes1, Code first, Use additional code.

Each note sits on a code, a section or a chapter (the holder: every code in its range inherits
it) and names codes in parentheses: a code (`R57.0`), a code and its descendants (`T86.3-`,
`E10.-`), a range (`B38.0-B38.2`, `E08-E13`), or a range with a condition on its characters
(`E08-E13 with .42`, `T36-T50 with fifth or sixth character 5`). Those references become code
ranges here, once, at load time. A note whose references cannot be read is counted and left
out; a note with no reference at all (`code to further specify disorder`) has nothing to check.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from worker.bulk import copy_rows
from worker.codesets.loader import (
    PARSER_VERSION,
    LoadReport,
    ReleaseSource,
    data_version,
    set_version,
)
from worker.errors import SourceDataError
from worker.models import CodeNote, CodeSetRelease

EXCLUDES1, CODE_FIRST, USE_ADDITIONAL = "excludes1", "code_first", "use_additional"
NOTES_VERSION = "1"  # part of the notes' checksum: a parser change reloads them
_TAGS = {"excludes1": EXCLUDES1, "codeFirst": CODE_FIRST, "useAdditionalCode": USE_ADDITIONAL}

_CODE = r"[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{0,4})?"
_ITEM = re.compile(rf"^({_CODE})(?:\.?-)?(?:\s*-\s*({_CODE})(?:\.?-)?)?$")
_WITH_DOT = re.compile(r"^(.*?)\s+with\s+\.([0-9A-Z]{1,3})$")
_WITH_CHARACTER = re.compile(
    r"^(.*?)\s+with\s+((?:fourth|fifth|sixth|seventh)(?:\s+or\s+(?:fourth|fifth|sixth|seventh))*)"
    r"\s+characters?\s+([0-9A-Z](?:-[0-9A-Z])?)$")
_ORDINAL = {"fourth": 3, "fifth": 4, "sixth": 5, "seventh": 6}
_CODE_LIKE = re.compile(rf"\b{_CODE}")
_GROUP = re.compile(r"\(([^()]*)\)")


def flat(code: str) -> str:
    return code.replace(".", "").upper()


@dataclasses.dataclass(frozen=True, slots=True)
class CodeRange:
    """Codes whose flat form falls between `low` and `high` (each compared on its own length),
    and, when set, whose characters after the category begin with `suffix` (`with .42`) or that
    have one of `characters` at one of the 0-based `positions` (`with fifth or sixth character 5`)."""

    low: str
    high: str
    positions: tuple[int, ...] = ()
    characters: str = ""
    suffix: str = ""

    def covers(self, code: str) -> bool:
        return self.covers_flat(flat(code))

    def covers_flat(self, code: str) -> bool:
        """covers() for a code already in flat form (E11621)."""
        if not (code[:len(self.low)] >= self.low and code[:len(self.high)] <= self.high):
            return False
        if self.suffix and code[3:3 + len(self.suffix)] != self.suffix:
            return False
        if self.positions:
            return any(len(code) > p and code[p] in self.characters for p in self.positions)
        return True

    def as_list(self) -> list[object]:
        return [self.low, self.high, list(self.positions), self.characters, self.suffix]

    @classmethod
    def from_list(cls, value: list[object]) -> CodeRange:
        low, high, positions, characters, suffix = value
        assert isinstance(positions, list)
        return cls(str(low), str(high), tuple(int(p) for p in positions), str(characters),
                   str(suffix))


@dataclasses.dataclass(frozen=True, slots=True)
class Note:
    """One instructional note, its holder's codes as a range, what it names as ranges."""

    kind: str
    holder: CodeRange
    holder_code: str  # as the tabular writes it: E11.621, a section E08-E13, a chapter A00-B99
    text: str
    refs: tuple[CodeRange, ...]
    if_applicable: bool


@dataclasses.dataclass
class ParsedNotes:
    notes: list[Note]
    unparsed: int  # notes naming codes in a way not understood: left out
    without_codes: int  # notes naming no code at all: nothing to check


def _range(low: str, high: str | None) -> CodeRange:
    return CodeRange(flat(low), flat(high or low))


def _characters(spec: str) -> str:
    if "-" in spec:
        first, last = spec.split("-")
        return "".join(chr(c) for c in range(ord(first), ord(last) + 1))
    return spec


def parse_group(group: str) -> list[CodeRange] | None:
    """The ranges of one parenthesized reference list; None when it names codes unreadably,
    [] when it names none ("(CKD)", "(Chapter 20)")."""
    ranges: list[CodeRange] = []
    items = [item.strip() for item in group.split(",") if item.strip()]
    if not any(_CODE_LIKE.search(item) for item in items):
        return []
    for item in items:
        positions: tuple[int, ...] = ()
        characters = suffix = ""
        dot = _WITH_DOT.match(item)
        if dot:
            item, suffix = dot.group(1), dot.group(2)  # ".42": the characters after the category
        else:
            character = _WITH_CHARACTER.match(item)
            if character:
                item = character.group(1)
                positions = tuple(_ORDINAL[w] for w in re.findall(r"fourth|fifth|sixth|seventh",
                                                                   character.group(2)))
                characters = _characters(character.group(3))
        found = _ITEM.match(item)
        if not found:
            return None
        base = _range(found.group(1), found.group(2))
        ranges.append(dataclasses.replace(base, positions=positions, characters=characters,
                                          suffix=suffix))
    return ranges


def parse_note(kind: str, holder: CodeRange, holder_code: str, text: str
               ) -> tuple[Note | None, str]:
    """(the note, '') or (None, 'unparsed' | 'without_codes')."""
    refs: list[CodeRange] = []
    for group in _GROUP.findall(text):
        parsed = parse_group(group)
        if parsed is None:
            return None, "unparsed"
        refs.extend(parsed)
    outside = _GROUP.sub("", text)
    if not refs and _CODE_LIKE.search(outside):
        return None, "unparsed"  # codes named outside parentheses: not a form we read
    lowered = text.lower()
    if not refs and not (kind == CODE_FIRST and "underlying" in lowered):
        return None, "without_codes"
    return Note(kind, holder, holder_code, " ".join(text.split()), tuple(refs),
                "if applicable" in lowered), ""


def _holder_range(text: str) -> CodeRange | None:
    found = re.search(rf"({_CODE})-({_CODE})", text)
    return _range(found.group(1), found.group(2)) if found else None


def parse_block(kind: str, holder: CodeRange, holder_code: str, texts: list[str]
                ) -> tuple[list[Note], dict[str, int]]:
    """The notes of one <excludes1>, <codeFirst> or <useAdditionalCode> element.

    Excludes1 lists independent exclusions: one Note each. The other two list alternatives
    ("code to identify control using:", "insulin (Z79.4)", "oral antidiabetic drugs (Z79.84)"):
    one Note for the block, any of whose codes satisfies it; a block with a note that cannot be
    read is left out whole, since a partial list would report companions as missing.
    """
    counts = {"unparsed": 0, "without_codes": 0}
    parsed = [parse_note(kind, holder, holder_code, text) for text in texts]
    if kind == EXCLUDES1:
        for _, why in parsed:
            if why:
                counts[why] += 1
        return [note for note, _ in parsed if note is not None], counts
    if any(why == "unparsed" for _, why in parsed):
        counts["unparsed"] += 1
        return [], counts
    kept = [note for note, _ in parsed if note is not None]
    if not kept:
        counts["without_codes"] += 1
        return [], counts
    text = "; ".join(" ".join(t.split()) for t in texts if t.strip())
    refs = tuple(r for note in kept for r in note.refs)
    if_applicable = "if applicable" in text.lower()
    return [Note(kind, holder, holder_code, text, refs, if_applicable)], counts


def parse_tabular_notes(path: Path) -> ParsedNotes:
    try:
        root = ET.parse(path).getroot()
    except (FileNotFoundError, ET.ParseError) as exc:
        raise SourceDataError(f"{path}: cannot read the tabular's notes ({exc})") from None
    notes: list[Note] = []
    counts = {"unparsed": 0, "without_codes": 0}
    for holder, holder_code, element in _holders(root):
        for tag, kind in _TAGS.items():
            for block in element.findall(tag):
                texts = [note.text or "" for note in block.findall("note")]
                found, block_counts = parse_block(kind, holder, holder_code, texts)
                notes.extend(found)
                for key, value in block_counts.items():
                    counts[key] += value
    return ParsedNotes(notes, counts["unparsed"], counts["without_codes"])


def _holders(root: ET.Element) -> Iterator[tuple[CodeRange, str, ET.Element]]:
    for chapter in root.iter("chapter"):
        chapter_range = _holder_range(chapter.findtext("desc") or "")
        if chapter_range is not None:
            yield chapter_range, f"{chapter_range.low}-{chapter_range.high}", chapter
        for section in chapter.iter("section"):
            section_range = _holder_range(section.get("id") or "")
            if section_range is not None:
                yield section_range, section.get("id") or "", section
            for diag in section.iter("diag"):
                name = (diag.findtext("name") or "").strip()
                if name:
                    yield _range(name, None), name, diag


def load_release_notes(session: Session, source: ReleaseSource) -> LoadReport | None:
    """Replace a release's notes when its tabular XML or the release changed; None for a
    release with no tabular (order files and the FY2025 SQLite carry no notes)."""
    if source.tabular_xml is None:
        return None
    started = time.perf_counter()
    release = session.scalar(select(CodeSetRelease).where(CodeSetRelease.label == source.label))
    if release is None:
        return None
    name = f"notes:{source.label}"[:32]
    digest = hashlib.sha256(f"{PARSER_VERSION}:{NOTES_VERSION}:{release.checksum}".encode())
    checksum = digest.hexdigest()
    current = data_version(session, name)
    if current is not None and current.checksum == checksum:
        return LoadReport("notes", "unchanged", f"{current.rows:,} notes of {source.label}, "
                          "same source checksum", time.perf_counter() - started)
    parsed = parse_tabular_notes(source.tabular_xml)
    session.execute(delete(CodeNote).where(CodeNote.release_id == release.id))
    copy_rows(session, "code_note", ("release_id", "kind", "holder_code", "holder_low",
                                     "holder_high", "text", "refs", "if_applicable"),
              ((release.id, n.kind, n.holder_code, n.holder.low, n.holder.high, n.text,
                json.dumps([r.as_list() for r in n.refs]), n.if_applicable)
               for n in parsed.notes))
    set_version(session, name, f"{source.description} notes", checksum, len(parsed.notes))
    kinds = {kind: sum(n.kind == kind for n in parsed.notes)
             for kind in (EXCLUDES1, CODE_FIRST, USE_ADDITIONAL)}
    detail = (f"{len(parsed.notes):,} notes of {source.label} for claim edits ("
              + ", ".join(f"{v:,} {k}" for k, v in kinds.items())
              + f"); {parsed.unparsed:,} name codes in a form not read, left out; "
              f"{parsed.without_codes:,} name no code")
    return LoadReport("notes", "replaced" if current is not None else "loaded", detail,
                      time.perf_counter() - started)
