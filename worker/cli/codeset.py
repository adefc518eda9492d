"""`dxcoder codeset ...`: load releases, list them, show a code."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from worker import db
from worker.cli.base import date_option, ensure_schema
from worker.codesets import catalog, gems, loader, notes


@click.group("codeset")
def codeset() -> None:
    """ICD-10-CM code-set releases and ICD-9-CM mappings."""


@codeset.command("load")
@click.option("--cms-order-file", type=click.Path(path_type=Path),
              help="Load a release from CMS's fixed-width order file (icd10cm_order_YYYY.txt).")
@click.option("--tabular-xml", type=click.Path(path_type=Path),
              help="Load a release from CMS's tabular XML (icd10cm_tabular_YYYY.xml).")
@click.option("--gem-file", type=click.Path(path_type=Path),
              help="Replace one direction of the GEMs with CMS's file: 2018_I9gem.txt "
                   "(ICD-9-CM to ICD-10-CM) or 2018_I10gem.txt (back); the direction is detected.")
@click.option("--label", help="Release label for --cms-order-file/--tabular-xml, e.g. FY2027.")
@click.option("--effective-from", callback=date_option, help="First date of service of that release.")
@click.option("--effective-to", callback=date_option, help="Last date of service (optional).")
@click.option("--force", is_flag=True,
              help="Load a release file even though its checks failed (under half the previous "
                   "release's billable codes, or flags that contradict its hierarchy).")
def codeset_load(cms_order_file: Path | None, tabular_xml: Path | None, gem_file: Path | None,
                 label: str | None, effective_from: dt.date | None,
                 effective_to: dt.date | None, force: bool) -> None:
    """Load code sets. With no file options: the releases the packages carry (FY2025, FY2026),
    the ICD-9-CM GEMs and the curated synonyms. A second load of the same sources changes
    nothing and says so. A bad source is refused before anything is written.

    A release file is compared with the release before it and the differences are printed;
    one with under half that release's billable codes, or with header/billable flags that
    contradict its own hierarchy, is refused unless --force.

    \b
    Example, next October's release:
      dxcoder codeset load --cms-order-file icd10cm_order_2027.txt \\
          --label FY2027 --effective-from 2026-10-01
    """
    if cms_order_file and tabular_xml:
        raise click.UsageError("give --cms-order-file or --tabular-xml, not both")
    user_release = cms_order_file or tabular_xml
    if user_release and not (label and effective_from):
        raise click.UsageError("--label and --effective-from are required with a release file")
    if (label or effective_from) and not user_release:
        raise click.UsageError("--label/--effective-from go with --cms-order-file or --tabular-xml")
    ensure_schema()
    reports = []
    moved: list[str] = []
    if user_release:
        assert label and effective_from
        if cms_order_file:
            source = loader.order_file_source(cms_order_file, label, effective_from, effective_to)
        else:
            assert tabular_xml
            source = loader.tabular_source(tabular_xml, label, effective_from, effective_to,
                                           f"CMS tabular XML {tabular_xml.name}")
        with db.session_scope() as session:
            reports.append(loader.load_release(session, source, force=force))
            moved = loader.place_april_updates(session)
            reports.append(loader.load_synonyms(session))
            noted = notes.load_release_notes(session, source)
            if noted is not None:
                reports.append(noted)
    elif gem_file:
        gem = gems.read_gem_file(gem_file)
        with db.session_scope() as session:
            reports.append(gems.load_gem_file(session, gem))
    else:
        # One transaction per release: a failure leaves the others (and the old copy) as they were.
        for source in loader.builtin_releases():
            with db.session_scope() as session:
                reports.append(loader.load_release(session, source))
                click.echo(reports[-1].line())
                noted = notes.load_release_notes(session, source)
                if noted is not None:
                    reports.append(noted)
                    click.echo(noted.line())
        with db.session_scope() as session:
            for report in gems.load_packaged(session):
                reports.append(report)
                click.echo(report.line())
        with db.session_scope() as session:
            reports.append(loader.load_synonyms(session))
            click.echo(reports[-1].line())
    if user_release or gem_file:  # the built-in loads said each line as they went
        for report in reports:
            click.echo(report.line())
        for line in moved if user_release else []:
            click.echo(line)
    _summary(reports)
    _build_indexes()


def _summary(reports: list[loader.LoadReport]) -> None:
    changed = [r.name for r in reports if r.outcome != "unchanged"]
    click.echo("nothing changed: every source was already loaded" if not changed
               else f"changed: {', '.join(changed)}")


def _build_indexes() -> None:
    """Build each release's text index now and keep it in DATA_DIR/resolver-cache, so the first
    job after a load does not spend seconds building it (an index already cached is only read)."""
    from worker.resolver import get_resolver

    resolver = get_resolver()
    took = {label: resolver.load(label) for label in resolver.release_labels()}
    click.echo("text indexes ready: " + ", ".join(f"{label} ({seconds:.1f} s)"
                                                 for label, seconds in took.items()))


@codeset.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per release.")
def codeset_list(as_json: bool) -> None:
    """Loaded releases: label, effective dates, code counts, source."""
    ensure_schema()
    with db.session_scope() as session:
        rows = catalog.releases(session)
        if not rows:
            click.echo(catalog.no_release_message())
            return
        for r in rows:
            record = {
                "label": r.label, "effective_from": r.effective_from.isoformat(),
                "effective_to": r.effective_to.isoformat() if r.effective_to else None,
                "codes": r.code_count, "billable": r.billable_count, "terms": r.term_count,
                "source": r.source, "loaded_at": r.loaded_at.isoformat(timespec="seconds"),
            }
            if as_json:
                click.echo(json.dumps(record))
            else:
                to = record["effective_to"] or "open"
                click.echo(f"{r.label:<8} {record['effective_from']} .. {to:<10}  "
                           f"{r.code_count:>7,} codes  {r.billable_count:>7,} billable  "
                           f"{r.term_count:>7,} terms  {r.source}")


@codeset.command("show")
@click.argument("code")
@click.option("--release", "label", help="Release label (default: the newest).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def codeset_show(code: str, label: str | None, as_json: bool) -> None:
    """Title, billable flag, parent, children, inclusion terms and ICD-9-CM sources of an
    ICD-10-CM CODE; or the titles and GEM targets of an ICD-9-CM CODE (250.00, V70.0)."""
    from worker.errors import NoReleaseError

    ensure_schema()
    with db.session_scope() as session:
        try:
            detail = catalog.show_code(session, code, label)
        except NoReleaseError:
            legacy = catalog.show_icd9(session, code)
            if legacy is None:
                raise
            _show_icd9(legacy, as_json)
            return
        # V70.0 is a header in ICD-10-CM and a billable ICD-9-CM code: show both readings.
        also = catalog.show_icd9(session, code) if code.strip()[:1].isalpha() else None
    if as_json:
        record = {**detail.__dict__, "also_icd9": also.__dict__ if also is not None else None}
        click.echo(json.dumps(record, default=list))
        return
    click.echo(f"{detail.code}  {detail.title}")
    click.echo(f"  release:   {detail.release}")
    click.echo(f"  billable:  {'yes' if detail.billable else 'no (header: pick a child)'}")
    if detail.short_title:
        click.echo(f"  short:     {detail.short_title}")
    if detail.parent:
        click.echo(f"  parent:    {detail.parent}  {detail.parent_title}")
    if detail.children:
        click.echo(f"  children:  {len(detail.children)}")
        for child, title, billable in detail.children:
            click.echo(f"    {child:<9}{'' if billable else '(header) '}{title}")
    for term in detail.inclusion_terms:
        click.echo(f"  includes:  {term}")
    for term in detail.synonyms:
        click.echo(f"  synonym:   {term}")
    for icd9, title, flags in detail.icd9_sources:
        click.echo(f"  ICD-9-CM:  {icd9:<7} {flags}  {title}")
    if also is not None:
        click.echo("also an ICD-9-CM code:")
        _show_icd9(also, False)


def _show_icd9(detail: catalog.Icd9Detail, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(detail.__dict__))
        return
    click.echo(f"{detail.code}  {detail.title}  (ICD-9-CM)")
    if detail.short_title:
        click.echo(f"  short:     {detail.short_title}")
    click.echo("  GEM flags: approximate, no map, combination, scenario, choice list")
    for target, flags in detail.targets:
        click.echo(f"  ICD-10-CM: {target or 'NoDx':<8} {flags}")


@codeset.command("diff")
@click.argument("old")
@click.argument("new")
@click.option("--kind", "kinds", multiple=True,
              type=click.Choice(["added", "deleted", "retitled", "respelled", "expanded"]),
              help="Only these kinds (repeatable; default: all).")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the changes as CSV to this file (counts still printed).")
def codeset_diff(old: str, new: str, kinds: tuple[str, ...], output: Path | None) -> None:
    """Codes added, deleted, retitled, respelled (only accents, punctuation, case or spacing of
    the title changed) and expanded (billable code became a header) from release OLD to release
    NEW, with the successors a coder picks from for deleted and expanded codes. OLD and NEW are
    labels (FY2025) or fiscal years (2025)."""
    import csv

    from worker.codesets import diff

    ensure_schema()
    with db.session_scope() as session:
        old, new = (catalog.release_by_label(session, label).label for label in (old, new))
        changes = diff.diff_releases(session, old, new)
    counts = diff.counts(changes)
    shown = [c for c in changes if not kinds or c.kind in kinds]
    header = ("kind", "code", "old_title", "new_title", "old_billable", "new_billable",
              "successors")
    rows = [(c.kind, c.code, c.old_title, c.new_title,
             "" if c.old_billable is None else str(c.old_billable).lower(),
             "" if c.new_billable is None else str(c.new_billable).lower(),
             "|".join(c.successors)) for c in shown]
    if output is not None:
        with output.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
    else:
        for c in shown:
            detail = {"added": c.new_title, "deleted": f"{c.old_title} -> {', '.join(c.successors)}",
                      "retitled": f"{c.old_title} -> {c.new_title}",
                      "respelled": f"{c.old_title} -> {c.new_title}",
                      "expanded": f"{c.new_title}: choose {', '.join(c.successors)}"}[c.kind]
            click.echo(f"{c.kind:<9} {c.code:<9} {detail}")
    summary = ", ".join(f"{kind} {counts[kind]:,}" for kind in diff.KINDS)
    click.echo(f"{old} -> {new}: {summary}" + (f" ({len(shown):,} -> {output})" if output else ""),
               err=output is None)


@codeset.command("remove")
@click.argument("label")
@click.option("--force", is_flag=True, help="Remove it even though jobs refer to it.")
def codeset_remove(label: str, force: bool) -> None:
    """Remove the release LABEL (its codes, terms and notes). Refused while jobs are pinned to
    it or hold results coded with it, unless --force; their stored results keep the label."""
    from worker.codesets import releases

    ensure_schema()
    with db.session_scope() as session:
        removed = releases.remove_release(session, label, force=force)
        moved = loader.place_april_updates(session)
    click.echo(removed.line())
    for line in moved:
        click.echo(line)
