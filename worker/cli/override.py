"""`dxcoder override add|list|remove`: approved term -> code mappings that beat every algorithm."""

from __future__ import annotations

import datetime as dt
import json

import click
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from worker import db
from worker.cli.base import ensure_schema, fail
from worker.codesets import catalog
from worker.models import Code, CodeSetRelease, Override
from worker.resolver.normalize import code_candidate, dotted, icd10_flat, text_key


def _term_key(term: str) -> str:
    key = text_key(term)
    if not key:
        raise click.BadParameter("the term has no letters or digits", param_hint="TERM")
    if len(key) > 1000:
        raise click.BadParameter("the term is longer than 1,000 characters", param_hint="TERM")
    return key


@click.group("override")
def override() -> None:
    """Approved mappings: a term -> a billable code, used before any algorithm (method `override`).

    Terms are matched as the resolver normalizes them: case, punctuation and spacing do not
    count. Running workers pick up changes on their next chunk.
    """


@override.command("add")
@click.argument("term")
@click.argument("code")
@click.option("--note", default="", help="Why this mapping was approved (who, ticket, source).")
def override_add(term: str, code: str, note: str) -> None:
    """Map TERM to CODE, a billable code of the newest release, or several `+`-joined in order
    (E11.22+N18.30: an entry naming several diagnoses); replaces an earlier mapping."""
    ensure_schema()
    key = _term_key(term)
    parts = [part.strip() for part in code.split("+")]
    with db.session_scope() as session:
        newest = catalog.release_in_force(catalog.releases(session), None)
        rows = [_billable(session, newest, part) for part in parts]
        joined = "+".join(row.code for row in rows)
        if len(joined) > 64:
            fail(f"{joined} is longer than 64 characters: map fewer codes")
        replaced = session.scalar(select(Override).where(Override.term_key == key))
        if replaced is not None:
            # Delete and insert: the new row gets a new id, which is how resolvers notice.
            session.execute(delete(Override).where(Override.term_key == key))
            session.flush()
        session.add(Override(term_key=key, term=term, code=joined, note=note))
        title = "; ".join(row.title for row in rows)
    verb = f"replaced (was {replaced.code})" if replaced is not None else "added"
    click.echo(f"override {verb}: {term!r} -> {joined} {title}")


def _billable(session: Session, release: CodeSetRelease, code: str) -> Code:
    """The billable code `code` names in `release`; fails with what to use instead."""
    compact = code_candidate(code) if code else None
    flat = icd10_flat(compact) if compact else None
    if flat is None:
        fail(f"{code!r} is not an ICD-10-CM code (e.g. E11.9, or E11.22+N18.30)")
    assert flat is not None
    dotted_code = dotted(flat)
    row = session.get(Code, (release.id, dotted_code))
    if row is None or not row.billable:
        children = session.scalars(
            select(Code.code).where(Code.release_id == release.id, Code.billable.is_(True),
                                    Code.code.like(f"{dotted_code}%"))
            .order_by(Code.code).limit(5)).all()
        why = "is not a code" if row is None else "is a header, not a billable code"
        hint = f"; billable codes under it: {', '.join(children)}" if children else ""
        fail(f"{dotted_code} {why} of {release.label}, the newest release{hint}")
    assert row is not None
    return row


@override.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per override.")
def override_list(as_json: bool) -> None:
    """Every override: term, code, note, when it was added."""
    ensure_schema()
    with db.session_scope() as session:
        rows = session.scalars(select(Override).order_by(Override.term_key)).all()
        records = [{"term": r.term, "term_key": r.term_key, "code": r.code, "note": r.note,
                    "created_at": r.created_at.isoformat(timespec="seconds") if r.created_at else None,
                    # Approved in review (dxcoder review import --scope global).
                    "reviewer": r.reviewer, "job": r.job_id,
                    "dos_from": r.dos_from.isoformat() if r.dos_from else None,
                    "dos_to": r.dos_to.isoformat() if r.dos_to else None}
                   for r in rows]
    if as_json:
        for record in records:
            click.echo(json.dumps(record, ensure_ascii=False))
        return
    if not records:
        click.echo("no overrides")
        return
    for record, row in zip(records, rows, strict=True):
        note = f"  ({record['note']})" if record["note"] else ""
        if record["reviewer"]:
            window = (f", dates of service {record['dos_from'] or '…'} to {record['dos_to'] or '…'}"
                      if record["dos_from"] or record["dos_to"] else "")
            note += f"  [review: {record['reviewer']}, job {str(record['job'])[:12]}{window}]"
        when = row.created_at
        if when is not None and when.tzinfo is not None:
            when = when.astimezone(dt.UTC)
        added = f"{when:%Y-%m-%d %H:%M}" if when else " " * 16
        click.echo(f"{added}  {record['code']:<9} {record['term']}{note}")


@override.command("remove")
@click.argument("term")
def override_remove(term: str) -> None:
    """Remove the override of TERM (matched the way the resolver normalizes it)."""
    ensure_schema()
    key = _term_key(term)
    with db.session_scope() as session:
        removed = session.scalar(select(Override.id).where(Override.term_key == key))
        if removed is not None:
            session.execute(delete(Override).where(Override.term_key == key))
    if removed is None:
        fail(f"no override for {term!r}; `dxcoder override list` shows them")
    click.echo(f"override removed: {term!r}")
