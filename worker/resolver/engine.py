"""The batch resolver: picks the release per entry, resolves each distinct term once, keeps input order."""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import datetime as dt
import gc
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from worker import db
from worker.contract import (
    ERROR,
    INVALID_INPUT,
    RESOLVED,
    SYSTEM_AUTO,
    SYSTEM_ICD9CM,
    SYSTEM_ICD10CM,
    SYSTEM_TEXT,
    SYSTEMS,
    Entry,
    Result,
)
from worker.errors import NoReleaseError
from worker.memo import remember
from worker.resolver import cache, clinical, codes, gems, loading, overrides
from worker.resolver import outcome as out
from worker.resolver.gems import Icd9Data
from worker.resolver.hierarchy import CodeTable, remember_core_words
from worker.resolver.loading import ReleaseInfo
from worker.resolver.normalize import (
    code_candidate,
    dotted,
    icd9_dotted,
    icd10_flat,
    input_problem,
    text_key,
)
from worker.resolver.outcome import Outcome
from worker.resolver.spelling import Speller
from worker.resolver.text import TextMatcher
from worker.resolver.textindex import TextIndex

log = logging.getLogger(__name__)

# ICD-10-CM replaced ICD-9-CM for dates of service from this day.
ICD10_START = dt.date(2015, 10, 1)
# Distinct (term, system, release) answers remembered per process. A million-line claims file
# holds about 160,000 (codes in every typed form, times the releases its dates span); at about
# 300 bytes each the memo stays under 60 MB.
MEMO_SIZE = 200_000
TEXT_MEMO_SIZE = 100_000
DATE_MEMO_SIZE = 100_000  # distinct dates of service: a few thousand in a year of claims

_NOTE_NONE, _NOTE_EARLY, _NOTE_PRE_ICD10, _NOTE_BAD_DATE = 0, 1, 2, 3
# What claims extracts put in an empty field (text keys).
NULL_MARKERS = frozenset({"null", "none", "na", "n a", "nil", "nan", "unknown", "not applicable",
                          "tbd"})
SessionFactory = Callable[[], AbstractContextManager[Session]]


@dataclasses.dataclass(slots=True)
class ReleaseIndex:
    """Everything one release needs in memory to resolve entries without the database."""

    info: ReleaseInfo
    table: CodeTable
    text: TextMatcher
    seconds: float


class Resolver:
    """Resolves entries in memory against indexes read once per process and release.

    A cheap freshness check (release checksums, data versions, the override table's count and
    newest id) runs once per `resolve` call; a change drops what it affects.
    """

    def __init__(self, sessions: SessionFactory = db.session_scope,
                 cache_dir: Path | None | bool = True) -> None:
        """`sessions`: the way to the database (worker.db.session_scope). `cache_dir`: where
        built text indexes are kept for the next process (True: DATA_DIR/resolver-cache,
        None or False: nowhere)."""
        self._sessions = sessions
        self._cache_dir: Path | None = None
        if cache_dir is True:
            from worker.settings import get_settings

            self._cache_dir = Path(get_settings().data_dir) / "resolver-cache"
        elif isinstance(cache_dir, Path):
            self._cache_dir = cache_dir
        self._lock = threading.RLock()
        self._stamp: tuple[Any, ...] | None = None
        self._releases: list[ReleaseInfo] = []
        self._starts: list[dt.date] = []
        self._tables: dict[str, CodeTable] = {}
        self._indexes: dict[str, ReleaseIndex] = {}
        self._icd9: Icd9Data | None = None  # the forward GEM and ICD-9-CM titles
        # ICD-9-CM title key -> codes: read on the first free text, without the GEM rows.
        self._icd9_titles: dict[str, tuple[str, str]] | None = None
        self._icd9_by_title: dict[str, tuple[str, ...]] | None = None
        self._overrides: dict[str, str] = {}
        self._windowed: dict[str, tuple[tuple[dt.date | None, dt.date | None, str], ...]] = {}
        self._abbreviations: dict[str, loading.Abbreviation] = {}
        self._memo: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        # Free text by its key and release: "Essential Hypertension" and "essential  hypertension"
        # are one search (the costly stage, about 0.2 ms each).
        self._text_memo: dict[tuple[str, str], Outcome] = {}
        self._by_date: dict[dt.date | None, tuple[str, int]] = {}
        self.cache_hits = 0  # distinct entries answered from the per-process memo (metrics)

    # -- public --------------------------------------------------------------------------

    def resolve(self, entries: Sequence[Entry], *, release: str | None = None) -> list[Result]:
        """One Result per entry, in input order. `release` pins a label; otherwise each entry
        uses the release in force on its date of service (no date: the newest)."""
        fields = self.resolve_terms([(e.term, e.system, e.date_of_service) for e in entries],
                                    release=release)
        return [Result(*(e.line_no, e.id, e.term, *found, e.date_of_service))
                for e, found in zip(entries, fields, strict=True)]

    def resolve_terms(self, items: Sequence[tuple[Any, Any, Any]], *, release: str | None = None
                      ) -> list[tuple[Any, ...]]:
        """The Result fields after line/id/input (status .. message) of each (term, system,
        date of service), in order: the batch path for callers that hold plain rows.

        Each distinct (term, system, release) is resolved once per call and remembered per
        process; the per-item work is a tuple and two dictionary lookups.
        """
        with self._lock:
            self.refresh()
            if release is not None and release not in {r.label for r in self._releases}:
                from worker.codesets.catalog import match_label, no_release_message

                labels = [r.label for r in self._releases]
                matched = match_label(labels, release)
                if matched is None:
                    known = ", ".join(labels)
                    raise NoReleaseError(f"no code-set release {release!r} is loaded (loaded: "
                                         f"{known})" if known else no_release_message())
                release = matched
            try:
                if release is None:
                    in_force = self._by_date.get
                    release_for = self._release_for
                    keys = [(term, system, in_force(on) or release_for(on))
                            for term, system, on in items]
                else:
                    pinned = (release, _NOTE_NONE)
                    keys = [(term, system, pinned) for term, system, _ in items]
                distinct: dict[tuple[Any, ...], Any] = dict.fromkeys(keys)
            except TypeError:  # an unhashable term or system: such entries are refused below
                keys = [self._safe_key(term, system, on, release) for term, system, on in items]
                distinct = dict.fromkeys(keys)
            for key in distinct:
                label, note = key[2]
                distinct[key] = self._fields(key[0], key[1], label, note)
            found = [distinct[key] for key in keys]
            if self._windowed:
                self._apply_windows(items, keys, found)
            return found

    def _apply_windows(self, items: Sequence[tuple[Any, Any, Any]], keys: list[tuple[Any, ...]],
                       found: list[tuple[Any, ...]]) -> None:
        """Approved overrides that hold only for some dates of service: the memo keys by
        release, not by day, so they are applied per item, after it."""
        term_keys: dict[str, str] = {}
        for at, (term, _system, on) in enumerate(items):
            if not isinstance(term, str):
                continue
            key = term_keys.get(term)
            if key is None:
                key = term_keys[term] = text_key(term)
            windows = self._windowed.get(key)
            label = keys[at][2][0]
            if not windows or not label:
                continue
            day = on.date() if isinstance(on, dt.datetime) else on
            for start, end, code in windows:
                if isinstance(day, dt.date) and (start is None or day >= start) \
                        and (end is None or day <= end):
                    found[at] = _as_fields(overrides.resolve_override(code, self._table(label)),
                                           label)
                    break

    def _safe_key(self, term: Any, system: Any, on: Any, release: str | None) -> tuple[Any, ...]:
        term = term if isinstance(term, str) else None
        system = system if isinstance(system, str) else None
        if release is not None:
            return (term, system, (release, _NOTE_NONE))
        return (term, system, self._release_for(on))

    def refresh(self) -> None:
        """Compare the database's stamp with the loaded one; drop whatever changed."""
        with self._lock, self._sessions() as session:
            rows = loading.stamp(session)
            stamp = (rows, loading.file_stamp())
            if stamp == self._stamp:
                return
            old_rows = dict((n, (a, b)) for n, a, b in self._stamp[0]) if self._stamp else {}
            new_rows = {n: (a, b) for n, a, b in rows}
            self._overrides = loading.overrides(session)
            self._windowed = loading.windowed_overrides(session)
            releases_changed = {n: v for n, v in old_rows.items() if n.startswith("release:")} != \
                {n: v for n, v in new_rows.items() if n.startswith("release:")}
            if (releases_changed or old_rows.get("data:synonyms") != new_rows.get("data:synonyms")
                    or self._stamp is None or self._stamp[1] != stamp[1]):
                self._releases = loading.releases(session)
                self._starts = [r.effective_from for r in self._releases]
                self._tables.clear()
                self._indexes.clear()
                self._abbreviations = loading.abbreviations()
            if any(old_rows.get(name) != new_rows.get(name)
                   for name in ("data:gem", "data:icd9_titles")):
                self._icd9 = self._icd9_titles = self._icd9_by_title = None
            self._memo.clear()
            self._text_memo.clear()
            self._by_date.clear()
            self._stamp = stamp
        log.info("resolver.refreshed", extra={"releases": [r.label for r in self._releases],
                                              "overrides": len(self._overrides)})

    def release_labels(self) -> list[str]:
        with self._lock:
            self.refresh()
            return [r.label for r in self._releases]

    def loaded_releases(self) -> list[str]:
        """Labels whose index is in memory (for the bench and tests)."""
        return list(self._indexes)

    def load(self, label: str) -> float:
        """Load a release's whole index now (normally done on first use); returns seconds taken."""
        with self._lock:
            self.refresh()
            if label not in {r.label for r in self._releases}:
                raise NoReleaseError(f"no code-set release {label!r} is loaded")
            return self._index(label).seconds

    # -- releases and indexes ------------------------------------------------------------

    def _release_for(self, on: dt.date | None) -> tuple[str, int]:
        """The catalog.release_in_force rule: latest effective_from on or before the date."""
        if not self._releases:
            from worker.codesets.catalog import no_release_message

            raise NoReleaseError(no_release_message())
        if isinstance(on, dt.datetime):
            on = on.date()
        elif on is not None and not isinstance(on, dt.date):
            return ("", _NOTE_BAD_DATE)  # refused per entry in _resolve_one
        if on is None:
            chosen = (self._releases[-1].label, _NOTE_NONE)
        else:
            at = bisect.bisect_right(self._starts, on)
            note = _NOTE_NONE
            if at == 0:
                note = _NOTE_PRE_ICD10 if on < ICD10_START else _NOTE_EARLY
            chosen = (self._releases[max(at - 1, 0)].label, note)
        return remember(self._by_date, on, chosen, DATE_MEMO_SIZE)

    def _table(self, label: str) -> CodeTable:
        """The codes of a release: enough for code forms and the GEMs (loaded on first use)."""
        table = self._tables.get(label)
        if table is None:
            info = self._info(label)
            with _no_collection(), self._sessions() as session:
                table = CodeTable(label, loading.codes(session, info.id))
            self._tables[label] = table
        return table

    def _info(self, label: str) -> ReleaseInfo:
        return next(r for r in self._releases if r.label == label)

    def _index(self, label: str) -> ReleaseIndex:
        """The release's codes and text index (the text side loads on the first free text)."""
        found = self._indexes.get(label)
        if found is not None:
            return found
        started = time.perf_counter()
        table = self._table(label)
        cache_key = cache.key(label, self._stamp[0] if self._stamp else ())
        path = cache.path_for(self._cache_dir, label, cache_key) if self._cache_dir else None
        with _no_collection():
            state = cache.read(path, cache_key) if path is not None else None
            if state is not None:
                text_index = TextIndex.from_state(state)
                speller = self._speller(text_index, state["deletes"])
                remember_core_words(state["title_words"])
                source = "cache"
            else:
                text_index, speller, title_words = self._build_text(label, table)
                remember_core_words(title_words)
                source = "database"
                if path is not None:
                    cache.write(path, cache_key, {**text_index.state(), "deletes": speller.deletes,
                                                  "title_words": title_words})
                del title_words
            matcher = TextMatcher(table, text_index, speller, self._abbreviations)
        index = ReleaseIndex(self._info(label), table, matcher, time.perf_counter() - started)
        self._indexes[label] = index
        log.info("resolver.index_loaded", extra={
            "release": label, "seconds": round(index.seconds, 2), "source": source,
            "codes": len(table.titles), "documents": len(text_index.doc_code),
            "exact_terms": len(text_index.exact)})
        return index

    def _build_text(self, label: str, table: CodeTable
                    ) -> tuple[TextIndex, Speller, list[tuple[str, tuple[str, ...]]]]:
        # 7th-character codes keep their exact titles but stay out of the token index:
        # a text naming an injury lands on its 6-character code, whose 7th character a
        # person chooses.
        searchable = {code for code in table.titles if len(code) < 8}
        with self._sessions() as session:
            text_index = TextIndex(loading.terms(session, self._info(label).id),
                                   searchable=searchable)
        title_words = [(title, tuple(words)) for title, words in text_index.title_words or ()]
        text_index.title_words = None
        return text_index, self._speller(text_index, None), title_words

    def _speller(self, text_index: TextIndex, deletes: dict[str, tuple[int, ...]] | None
                 ) -> Speller:
        """The speller leaves alone index words, words of titles, abbreviations ("unsp": the
        expansion stage reads them) and CMS shorthand no real word is one edit from."""
        abbreviations = {text_key(short) for short in self._abbreviations}
        speller = Speller(text_index.vocabulary, deletes=deletes, also_known=[
            *text_index.idf, *text_index.known_words,
            *(w for w in abbreviations if w and " " not in w)])
        speller.also_known([w for w in text_index.shorthand_words if not speller.near_a_word(w)])
        return speller

    def _legacy(self) -> Icd9Data:
        if self._icd9 is None:
            with self._sessions() as session:
                self._icd9 = Icd9Data(loading.gems(session), self._titles())
        return self._icd9

    def _titles(self) -> dict[str, tuple[str, str]]:
        if self._icd9_titles is None:
            with self._sessions() as session:
                self._icd9_titles = loading.icd9_titles(session)
        return self._icd9_titles

    def _by_title(self) -> dict[str, tuple[str, ...]]:
        if self._icd9_by_title is None:
            self._icd9_by_title = gems.title_index(self._titles())
        return self._icd9_by_title

    # -- resolving -------------------------------------------------------------------------

    def _fields(self, term: Any, system: Any, label: str, note: int) -> tuple[Any, ...]:
        """The Result fields after input/id/line for one distinct entry, memoized (bounded, see _remember)."""
        key = (term, system, label, note)
        found = self._memo.get(key)
        if found is not None:
            self.cache_hits += 1
            return found
        try:
            outcome = self._resolve_one(term, system, label, note)
        except NoReleaseError:
            raise
        except Exception as exc:  # one bad line must not sink the batch; not remembered
            # Where it failed, not what it said: exception messages can carry the entry (PHI).
            frames = [f"{Path(f.filename).name}:{f.lineno}:{f.name}"
                      for f in traceback.extract_tb(exc.__traceback__)]
            log.error("resolver.entry_failed", extra={"error": type(exc).__name__,
                                                      "frames": frames[-6:]})
            return _as_fields(out.internal_error(exc), "")
        found = _as_fields(outcome, label)
        remember(self._memo, key, found, MEMO_SIZE)
        return found

    def _resolve_one(self, term: Any, system: Any, label: str, note: int) -> Outcome:
        problem = input_problem(term) if isinstance(term, str) else "entry is not text"
        if problem:
            return out.invalid(problem)
        if note == _NOTE_BAD_DATE:
            return out.invalid("the date of service is not a date")
        if not isinstance(system, str) or system not in SYSTEMS:
            return out.invalid(f"unknown coding system {system!r}; use one of {', '.join(SYSTEMS)}"
                               if len(str(system)) <= 20 else "unknown coding system")
        found = self._decide(term, system, label, note)
        if note == _NOTE_NONE or found.status == INVALID_INPUT or \
                found.method in (out.ICD9_GEM, out.ICD9_TITLE):
            return found
        why = ("the date of service is before ICD-10-CM (2015-10-01)" if note == _NOTE_PRE_ICD10
               else "the date of service is before every loaded release")
        message = f"{why}: used {label}, the earliest loaded release"
        return dataclasses.replace(found, message=f"{found.message}; {message}" if found.message
                                   else message)

    def _decide(self, term: str, system: str, label: str, note: int) -> Outcome:
        table = self._table(label)
        key = text_key(term)
        override = self._overrides.get(key)
        if override is not None:
            return overrides.resolve_override(override, table)
        compact = code_candidate(term) if system != SYSTEM_TEXT else None
        unknown_code = None
        if compact is not None:
            icd9 = icd9_dotted(compact) if system in (SYSTEM_AUTO, SYSTEM_ICD9CM) else None
            if system == SYSTEM_ICD9CM:
                if icd9 is None:
                    return out.invalid("system icd9cm, but the entry is not in ICD-9-CM code form")
                return gems.resolve_icd9(icd9, self._legacy(), table)
            legacy = self._legacy() if icd9 is not None else None
            if legacy is not None and icd9 is not None and note == _NOTE_PRE_ICD10 \
                    and icd9 in legacy.gem:
                return gems.resolve_icd9(icd9, legacy, table)
            flat = icd10_flat(compact)
            if flat is not None:
                others = [self._table(r.label) for r in reversed(self._releases)
                          if r.label != label]
                found = codes.resolve_icd10(term, flat, table, others)
                if found is not None:
                    if legacy is not None and icd9 is not None and icd9 in legacy.gem \
                            and system == SYSTEM_AUTO and gems.completed_by_padding(flat, found):
                        return gems.either_reading(icd9, found, legacy, table)
                    return found
                unknown_code = dotted(flat)
            if legacy is not None and icd9 is not None and (flat is None or icd9 in legacy.gem):
                return gems.resolve_icd9(icd9, legacy, table)
            if system == SYSTEM_ICD10CM:
                return (codes.well_formed_unknown(unknown_code) if unknown_code else
                        out.invalid("system icd10cm, but the entry is not in ICD-10-CM code form"))
        elif system == SYSTEM_ICD9CM:
            return out.invalid("system icd9cm, but the entry is not in ICD-9-CM code form")
        elif system == SYSTEM_ICD10CM:
            return out.invalid("system icd10cm, but the entry is not in ICD-10-CM code form")
        if key in NULL_MARKERS:
            return out.invalid("the entry is a placeholder for a missing value, not a diagnosis")
        matcher = self._index(label).text
        titled = self._icd9_title(key, note, table, matcher)
        if titled is not None:
            return titled
        if not matcher.knows(key) and \
                not any(sum(ch.isalpha() for ch in word) >= 2 for word in key.split()):
            if unknown_code:
                return codes.well_formed_unknown(unknown_code)
            return out.invalid("the entry is neither a code nor a diagnosis text")
        memo_key = (clinical.memo_key(term, key), label)
        found = self._text_memo.get(memo_key)
        if found is None:
            found = clinical.resolve(term, key, matcher)
            remember(self._text_memo, memo_key, found, TEXT_MEMO_SIZE)
        if unknown_code and found.status != RESOLVED:
            return codes.well_formed_unknown(unknown_code)
        return found

    def _icd9_title(self, key: str, note: int, table: CodeTable, matcher: TextMatcher
                    ) -> Outcome | None:
        """A CMS ICD-9-CM title typed as text goes through its code's GEM. Where the same words
        are also a term of the ICD-10-CM release, that term says it directly, unless the date
        of service is before ICD-10-CM."""
        codes9 = self._by_title().get(key)
        if not codes9 or (note != _NOTE_PRE_ICD10 and matcher.exact(key) is not None):
            return None
        return gems.resolve_icd9_title(codes9, self._legacy(), table)


def _as_fields(found: Outcome, label: str) -> tuple[Any, ...]:
    """status .. message in Result order; no release is named for unreadable entries."""
    code_set = "" if found.status in (INVALID_INPUT, ERROR) else label
    return (found.status, found.code, found.description, found.method, found.confidence,
            code_set, found.alternatives, found.message)


@contextlib.contextmanager
def _no_collection() -> Iterator[None]:
    """Build long-lived index objects without the cyclic collector rescanning them, then
    freeze them out of later collections (they hold no cycles; frozen pages also stay shared
    between prefork children)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
    gc.freeze()


_resolver: Resolver | None = None
_resolver_url: str | None = None
_global_lock = threading.Lock()


def get_resolver() -> Resolver:
    """The process-wide resolver, built lazily (its indexes load on first use)."""
    global _resolver, _resolver_url
    from worker.settings import get_settings

    url = get_settings().effective_database_url
    with _global_lock:
        if _resolver is None or _resolver_url != url:
            _resolver, _resolver_url = Resolver(), url
        return _resolver


def reset_resolver() -> None:
    """Forget the process-wide resolver and its indexes (tests; a fresh start after fork)."""
    global _resolver, _resolver_url
    with _global_lock:
        _resolver, _resolver_url = None, None
