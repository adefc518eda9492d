"""Check the curated free-text data files against a CMS ICD-10-CM tabular XML release.

Usage:
    python worker/data/check_data.py PATH/TO/icd10cm-tabular.xml [--data-dir DIR]

Standalone and stdlib only, so a reviewer can run it without installing the project.
Exits 0 when every file is well-formed and every synonyms code is billable in the given
release; otherwise prints one line per bad row (file:line: problem) and exits 1.
"""

from __future__ import annotations

import argparse
import csv
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent

ABBREVIATIONS_FILE = "abbreviations.csv"
ABBREVIATIONS_HEADER = ["abbreviation", "expansion", "source", "note"]
SYNONYMS_FILE = "synonyms.csv"
SYNONYMS_HEADER = ["term", "code", "source", "note"]

# Words in `note` that mark a repeated key as deliberate: an ambiguous abbreviation is
# listed once per meaning, and the resolver sends it to review instead of guessing.
AMBIGUOUS_MARKER = "ambiguous"


def _excluded_by_prose_note(code: str) -> bool:
    """True for 7th-character combinations the tabular rules out only in a prose note.

    Category S06 says: "7th characters D and S do not apply to codes in category S06 with
    6th character 7 ... or 8"; the XML still lists D and S in the sevenChrDef, so the
    exception is written out here (the CMS code list agrees: S06.4X7D does not exist).
    """
    return code.startswith("S06") and code[5] in "78" and code[6] in "DS"


def billable_codes(tabular_xml: Path) -> dict[str, str]:
    """Return every billable code (dotted, with 7th character where one is required) -> title.

    A diag with no child diag is billable, except under a `sevenChrDef`: there the code is
    padded with placeholder X to six characters and each defined 7th character makes one
    billable code. The nearest sevenChrDef (the diag's own or an ancestor's) applies.
    """
    root = ET.parse(tabular_xml).getroot()
    codes: dict[str, str] = {}

    def walk(diag: ET.Element, seventh: list[tuple[str, str]] | None) -> None:
        own = diag.find("sevenChrDef")
        if own is not None:
            seventh = [(ext.get("char", ""), (ext.text or "").strip()) for ext in own.findall("extension")]
        children = diag.findall("diag")
        for child in children:
            walk(child, seventh)
        if children:
            return
        name = (diag.findtext("name") or "").strip()
        desc = (diag.findtext("desc") or "").strip()
        if not seventh:
            codes[name] = desc
            return
        undotted = name.replace(".", "").ljust(6, "X")
        for char, meaning in seventh:
            full = undotted + char
            if _excluded_by_prose_note(full):
                continue
            codes[f"{full[:3]}.{full[3:]}"] = f"{desc}, {meaning}"

    for chapter in root.iter("chapter"):
        for section in chapter.findall("section"):
            for diag in section.findall("diag"):
                walk(diag, None)
    return codes


def read_rows(path: Path, header: list[str], problems: list[str]) -> list[tuple[int, dict[str, str]]]:
    """Read one CSV data file, checking encoding, line endings and header; return (line, row)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(f"{path}: cannot read ({exc.strerror}); run from a checkout or pass --data-dir")
        return []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(f"{path.name}: not UTF-8 ({exc}); re-save the file as UTF-8")
        return []
    if "\r" in text:
        problems.append(f"{path.name}: has CR characters; use LF line endings only")
    if text and not text.endswith("\n"):
        problems.append(f"{path.name}: last line has no newline")
    reader = csv.reader(text.splitlines(), strict=True)
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        first = next(reader, None)
        if first != header:
            problems.append(f"{path.name}:1: header is {first!r}, expected {header!r}")
            return []
        for record in reader:
            line = reader.line_num
            if len(record) != len(header):
                problems.append(
                    f"{path.name}:{line}: {len(record)} fields, expected {len(header)}; "
                    "quote fields that contain commas"
                )
                continue
            rows.append((line, dict(zip(header, record, strict=True))))
    except csv.Error as exc:
        problems.append(f"{path.name}:{reader.line_num}: not valid CSV ({exc})")
    return rows


def check_common(
    name: str,
    rows: list[tuple[int, dict[str, str]]],
    key: str,
    required: list[str],
    problems: list[str],
) -> None:
    """Checks both files share: required fields, clean lower-case keys, sort order, repeats."""
    previous = ""
    for line, row in rows:
        for field in required:
            if not row[field].strip():
                problems.append(f"{name}:{line}: empty {field}")
        for field, value in row.items():
            if value != value.strip() or "  " in value:
                problems.append(f"{name}:{line}: {field} {value!r} has stray spaces")
        value = row[key]
        if value != value.lower():
            problems.append(f"{name}:{line}: {key} {value!r} is not lower case")
        if value < previous:
            problems.append(
                f"{name}:{line}: {key} {value!r} is out of order (after {previous!r}); sort by {key}"
            )
        previous = value
    counts = Counter(row[key] for _, row in rows)
    for line, row in rows:
        marked = AMBIGUOUS_MARKER in row["note"].lower()
        if counts[row[key]] > 1 and not marked:
            problems.append(
                f"{name}:{line}: {key} {row[key]!r} is listed {counts[row[key]]} times; "
                f"merge the rows or say '{AMBIGUOUS_MARKER}' in note on each"
            )
        if counts[row[key]] == 1 and marked:
            # The resolver reads ambiguity from repeated keys, so a lone row marked
            # ambiguous would still resolve silently: list every meaning, or reword.
            problems.append(
                f"{name}:{line}: {key} {row[key]!r} says '{AMBIGUOUS_MARKER}' but has one row; "
                "add a row for each other meaning or reword the note"
            )


def check_abbreviations(path: Path, problems: list[str]) -> list[tuple[int, dict[str, str]]]:
    rows = read_rows(path, ABBREVIATIONS_HEADER, problems)
    check_common(path.name, rows, "abbreviation", ["abbreviation", "expansion", "source"], problems)
    seen: set[tuple[str, str]] = set()
    for line, row in rows:
        pair = (row["abbreviation"], row["expansion"])
        if pair in seen:
            problems.append(f"{path.name}:{line}: {pair!r} is listed twice")
        seen.add(pair)
        if row["expansion"] != row["expansion"].lower():
            problems.append(f"{path.name}:{line}: expansion {row['expansion']!r} is not lower case")
        if row["expansion"] == row["abbreviation"]:
            problems.append(f"{path.name}:{line}: expansion repeats the abbreviation")
    return rows


def check_synonyms(path: Path, billable: dict[str, str], ambiguous: set[str], problems: list[str]) -> int:
    rows = read_rows(path, SYNONYMS_HEADER, problems)
    check_common(path.name, rows, "term", ["term", "code", "source"], problems)
    for line, row in rows:
        if row["term"] in ambiguous:
            # An abbreviation with several meanings must reach review, not a default code.
            problems.append(
                f"{path.name}:{line}: term {row['term']!r} is an ambiguous abbreviation in "
                f"{ABBREVIATIONS_FILE}; remove the row or resolve the ambiguity there"
            )
        code = row["code"]
        if code not in billable:
            problems.append(
                f"{path.name}:{line}: code {code!r} for {row['term']!r} is not a billable code "
                "in this release (write it dotted, upper case, with its 7th character "
                "if it needs one)"
            )
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "tabular_xml", type=Path, help="CMS ICD-10-CM tabular XML (e.g. icd10cm-tabular-2026.xml)"
    )
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder holding the CSV files")
    args = parser.parse_args(argv)

    problems: list[str] = []
    billable = billable_codes(args.tabular_xml)
    if not billable:
        print(f"{args.tabular_xml}: no codes found; is this the CMS tabular XML?", file=sys.stderr)
        return 1
    abbreviations = check_abbreviations(args.data_dir / ABBREVIATIONS_FILE, problems)
    n_abbreviations = len(abbreviations)
    meanings = Counter(row["abbreviation"] for _, row in abbreviations)
    ambiguous = {abbreviation for abbreviation, count in meanings.items() if count > 1}
    n_synonyms = check_synonyms(args.data_dir / SYNONYMS_FILE, billable, ambiguous, problems)
    for problem in problems:
        print(problem)
    print(
        f"checked {n_abbreviations} abbreviations and {n_synonyms} synonyms "
        f"against {len(billable)} billable codes: {len(problems)} problem(s)",
        file=sys.stderr,
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
