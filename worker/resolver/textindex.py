"""The free-text side of a release index: exact term keys and an inverted token index with IDF."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable

from worker.resolver.normalize import split_term, text_key

# Cascade order of the exact stages (issue 3): titles, inclusion terms, short titles, synonyms.
KIND_ORDER = ("title", "inclusion", "short_title", "synonym")
KIND_RANK = {kind: rank for rank, kind in enumerate(KIND_ORDER)}


class TextIndex:
    """Exact keys -> codes, and documents (one per distinct term of a code) behind token postings.

    A document keeps its essential tokens (postings `essential`) apart from its nonessential
    ones (postings `optional`, the ICD convention's parenthesised modifiers and NOS), so a
    query is scored on how much of the term it covers and how much of itself the term explains.
    """

    __slots__ = ("exact", "doc_code", "doc_kind", "doc_weight", "doc_optional_weight", "doc_size",
                 "essential", "optional", "idf", "max_idf", "vocabulary")

    def __init__(self, terms: Iterable[tuple[str, str, str]], *, searchable: set[str]) -> None:
        """`terms` are (code, kind, text); only codes in `searchable` get token documents."""
        exact: dict[str, list[tuple[str, str]]] = {}
        self.doc_code: list[str] = []
        self.doc_kind: list[int] = []
        self.doc_weight: list[float] = []  # sum of IDF of the essential tokens
        self.doc_size: list[int] = []  # number of essential tokens
        essential: dict[str, list[int]] = {}
        optional: dict[str, list[int]] = {}
        seen: dict[tuple[str, tuple[str, ...], tuple[str, ...]], int] = {}
        doc_tokens: list[tuple[str, ...]] = []
        doc_optional: list[tuple[str, ...]] = []
        surface: dict[str, int] = {}
        for code, kind, text in terms:
            key = text_key(text)
            if not key:
                continue
            _add_exact(exact, key, code, kind)
            if code not in searchable:
                if "[" in text:
                    for alias in split_term(text)[2]:
                        _add_exact(exact, text_key(alias), code, kind)
                continue
            ess, opt, aliases = split_term(text)
            for alias in aliases:
                alias_key = text_key(alias)
                if alias_key and alias_key != key:
                    _add_exact(exact, alias_key, code, kind)
            if not ess:
                continue
            if kind != "short_title":  # CMS shorthand ("athscl", "unsp") is no spelling to aim at
                for word in key.split():
                    if len(word) >= 4 and word.isalpha():
                        surface[word] = surface.get(word, 0) + 1
            ess_t, opt_t = tuple(dict.fromkeys(ess)), tuple(dict.fromkeys(t for t in opt if t not in ess))
            signature = (code, tuple(sorted(ess_t)), tuple(sorted(opt_t)))
            rank = KIND_RANK.get(kind, len(KIND_ORDER))
            known = seen.get(signature)
            if known is not None:
                self.doc_kind[known] = min(self.doc_kind[known], rank)
                continue
            doc = len(self.doc_code)
            seen[signature] = doc
            self.doc_code.append(code)
            self.doc_kind.append(rank)
            self.doc_size.append(len(ess_t))
            doc_tokens.append(ess_t)
            doc_optional.append(opt_t)
            for token in ess_t:
                essential.setdefault(token, []).append(doc)
            for token in opt_t:
                optional.setdefault(token, []).append(doc)
        # Keys are interned so releases that share a term share its string; a tuple of
        # (code, kind) pairs costs a third of a list of tuples.
        self.exact: dict[str, tuple[tuple[str, str], ...]] = {
            sys.intern(key): tuple(found) for key, found in exact.items()}
        del exact
        total = len(self.doc_code) or 1
        df: dict[str, int] = {t: len(p) for t, p in essential.items()}
        for token, posting in optional.items():
            df[token] = df.get(token, 0) + len(posting)
        # Smoothed IDF: a word in every term still counts a little; a rare word counts most.
        self.idf: dict[str, float] = {t: math.log((total + 1) / (n + 0.5)) + 1.0 for t, n in df.items()}
        idf = self.idf
        self.max_idf = max(idf.values(), default=1.0)
        self.doc_weight = [sum(idf[t] for t in tokens) for tokens in doc_tokens]
        self.doc_optional_weight = [sum(idf[t] for t in tokens) for tokens in doc_optional]
        self.essential = {t: tuple(p) for t, p in essential.items()}
        self.optional = {t: tuple(p) for t, p in optional.items()}
        # Words as written in titles, inclusion terms and synonyms, for spelling correction,
        # most frequent first so ties go to common words.
        self.vocabulary = sorted(surface, key=lambda w: (-surface[w], w))

    def df(self, token: str) -> int:
        return len(self.essential.get(token, ())) + len(self.optional.get(token, ()))


def _add_exact(exact: dict[str, list[tuple[str, str]]], key: str, code: str, kind: str) -> None:
    found = exact.setdefault(key, [])
    if (code, kind) not in found:
        found.append((sys.intern(code), sys.intern(kind)))
