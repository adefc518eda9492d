"""`dxcoder resolve TERM...`: resolve entries by hand, one JSON object per term in the result contract."""

from __future__ import annotations

import datetime as dt
import json

import click

from worker.cli.base import date_option, ensure_schema
from worker.contract import SYSTEMS, Entry


@click.command("resolve")
@click.argument("terms", nargs=-1, required=True)
@click.option("--dos", "date_of_service", callback=date_option, metavar="DATE",
              help="Date of service (YYYY-MM-DD, YYYYMMDD or MM/DD/YYYY): picks the release in "
              "force (default: the newest release).")
@click.option("--system", type=click.Choice(SYSTEMS), default="auto", show_default=True,
              help="What the terms are: auto-detect, ICD-10-CM codes, ICD-9-CM codes or text.")
@click.option("--release", "release", metavar="LABEL",
              help="Use this release (e.g. FY2025) whatever the date of service.")
def resolve_command(terms: tuple[str, ...], date_of_service: dt.date | None, system: str,
                    release: str | None) -> None:
    """Resolve TERMs (codes, ICD-9-CM codes or diagnosis text) and print one JSON object each.

    \b
    Examples:
      dxcoder resolve E119 "Type 2 diabetes" CHF 401.9
      dxcoder resolve G35 --dos 2026-01-15
      dxcoder resolve 250.00 --system icd9cm --release FY2025
    """
    from worker.resolver import get_resolver

    ensure_schema()
    entries = [Entry(line_no=n, term=term, system=system, date_of_service=date_of_service)
               for n, term in enumerate(terms, start=1)]
    for result in get_resolver().resolve(entries, release=release):
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False))
