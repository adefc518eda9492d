"""The host cache of built text indexes: same answers as a fresh build, and only ever a speed-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.resolver.test_engine import mixed_batch
from worker.contract import Entry
from worker.resolver import Resolver

TEXTS = ["Type 2 diabetes", "Stroke", "CHF", "Essental hypertension", "hypertension essential",
         "diabetis type 2", "atrial fibrillation and flutter", "MS", "AV block", "pinkeye",
         "banana smoothie", "Fx unsp part of nk of r femr, subs for clos fx w routn heal"]


def _answers(resolver: Resolver) -> list[dict[str, Any]]:
    entries = mixed_batch() + [Entry(line_no=1000 + n, term=t) for n, t in enumerate(TEXTS)]
    return [r.as_dict() for r in resolver.resolve(entries)]


def test_an_index_read_from_the_cache_answers_like_a_fresh_build(
        sqlite_session_factory: Any, tmp_path: Path) -> None:
    fresh = Resolver(sessions=sqlite_session_factory, cache_dir=None)
    writer = Resolver(sessions=sqlite_session_factory, cache_dir=tmp_path)
    expected = _answers(fresh)
    assert _answers(writer) == expected
    files = sorted(p.name for p in tmp_path.glob("*.idx"))
    assert [name.split("-")[0] for name in files] == ["FY2025", "FY2026"]
    reader = Resolver(sessions=sqlite_session_factory, cache_dir=tmp_path)
    assert _answers(reader) == expected


def test_a_damaged_cache_file_is_rebuilt_not_trusted(sqlite_session_factory: Any,
                                                    tmp_path: Path) -> None:
    writer = Resolver(sessions=sqlite_session_factory, cache_dir=tmp_path)
    expected = _answers(writer)
    for path in tmp_path.glob("*.idx"):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])  # cut in the middle
    reader = Resolver(sessions=sqlite_session_factory, cache_dir=tmp_path)
    assert _answers(reader) == expected
