"""The free-text side of a release index: exact term keys and an inverted token index with IDF."""

from __future__ import annotations

import functools
import itertools
import math
import sys
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from worker.resolver.normalize import split_term, text_key

# Cascade order of the exact stages (issue 3): titles, inclusion terms, short titles, synonyms.
KIND_ORDER = ("title", "inclusion", "short_title", "synonym")
KIND_RANK = {kind: rank for rank, kind in enumerate(KIND_ORDER)}
# Nonessential words of a term the input does not name count this much against it.
OPTIONAL_COST = 0.1


class TextIndex:
    """Exact keys -> codes, and documents (one per distinct term of a code) behind token postings.

    A document keeps its essential tokens (postings `essential`) apart from its nonessential
    ones (postings `optional`, the ICD convention's parenthesised modifiers and NOS), so a
    query is scored on how much of the term it covers and how much of itself the term explains.
    """

    __slots__ = ("exact", "codes", "title_words", "doc_code", "doc_kind", "doc_weight",
                 "doc_optional_weight", "doc_full_weight", "known_words", "shorthand_words",
                 "token_id", "essential", "optional", "df", "idf", "max_idf", "vocabulary")

    def __init__(self, terms: Iterable[tuple[str, str, str]], *, searchable: set[str]) -> None:
        """`terms` are (code, kind, text); only codes in `searchable` get token documents."""
        # A hit is packed into one int (code number x 4 + kind), several into a tuple of ints:
        # a fifth of the memory of (code, kind) tuples, and most keys name one code. Keys are
        # interned so releases that share a term share its string.
        self.exact: dict[str, int | tuple[int, ...]] = {}
        self.codes: list[str] = []
        code_id: dict[str, int] = {}
        add = functools.partial(_add_exact, self.exact, self.codes, code_id)
        docs: dict[tuple[str, tuple[str, ...], tuple[str, ...]], int] = {}  # -> kind rank
        spelled: list[str] = []  # keys whose words are spellings to correct towards
        unscored: list[str] = []  # keys matched exactly only: their words are no typos either
        shorthand: list[str] = []  # CMS short titles
        # (title, essential words) for the code table's default-code rule; taken and dropped.
        self.title_words: list[tuple[str, list[str]]] | None = []
        for code, kind, text in terms:
            key = text_key(text)
            if not key:
                continue
            code = sys.intern(code)
            if kind not in KIND_RANK:
                continue
            add(key, code, kind)
            if key.endswith(" nos"):  # "Stroke NOS" is what "stroke" alone means
                add(key[:-4], code, kind)
            # CMS short titles are matched exactly only: their shorthand ("athscl", "unsp") is
            # no vocabulary to score typed text against, and they are a third of the terms.
            if code not in searchable or kind == "short_title":
                (shorthand if kind == "short_title" else unscored).append(key)
                if "[" in text:
                    for alias in split_term(text)[2]:
                        add(text_key(alias), code, kind)
                continue
            ess, opt, aliases = split_term(text, key)
            if kind == "title":
                self.title_words.append((sys.intern(text), ess))
            for alias in aliases:
                alias_key = text_key(alias)
                if alias_key and alias_key != key:
                    add(alias_key, code, kind)
            if not ess:
                continue
            spelled.append(key)
            ess_t = tuple(sorted(set(ess)))
            opt_t = tuple(sorted(set(opt).difference(ess))) if opt else ()
            signature = (code, ess_t, opt_t)
            rank = KIND_RANK.get(kind, len(KIND_ORDER))
            known = docs.get(signature)
            if known is None or rank < known:
                docs[signature] = rank
        surface = Counter(word for word in " ".join(spelled).split()
                          if len(word) >= 4 and word.isalpha())
        del spelled
        # Words of titles only exact keys hold (7th-character titles: "nonunion", "sequela"):
        # known, so the speller does not turn them into something else. CMS short-title
        # shorthand ("prosth", "fngr") is kept apart: the engine lets the speller leave it
        # alone unless it is one edit from a real word ("artic" is a typo of "aortic" too).
        self.known_words = frozenset(" ".join(unscored).split()).difference(surface)
        self.shorthand_words = frozenset(" ".join(shorthand).split()).difference(surface,
                                                                                 self.known_words)
        del unscored, shorthand
        del code_id
        df: dict[str, int] = dict(Counter(itertools.chain.from_iterable(
            ess_t + opt_t for _, ess_t, opt_t in docs)))
        total = len(docs) or 1
        # Smoothed IDF: a word in every term still counts a little; a rare word counts most.
        self.idf: dict[str, float] = {t: math.log((total + 1) / (n + 0.5)) + 1.0 for t, n in df.items()}
        idf = self.idf
        self.max_idf = max(idf.values(), default=1.0)

        # Documents are numbered shortest first: among documents that score alike, the lower
        # number is the tighter term (the scoring's tie-break).
        weighed = [(sum([idf[t] for t in ess_t]), signature, rank)
                   for signature, rank in docs.items() for ess_t in (signature[1],)]
        weighed.sort()
        self.doc_code = [code for _, (code, _, _), _ in weighed]
        self.doc_kind = [rank for _, _, rank in weighed]
        self.doc_weight = np.array([w for w, _, _ in weighed])
        self.doc_optional_weight = np.array([sum([idf[t] for t in opt_t])
                                             for _, (_, _, opt_t), _ in weighed])
        # What a term weighs when the input names none of its nonessential words.
        self.doc_full_weight = self.doc_weight + OPTIONAL_COST * self.doc_optional_weight
        ordered = [signature for _, signature, _ in weighed]
        del weighed
        # Postings in compressed rows (numpy): token id -> slice of document numbers. A query
        # adds its words' weights with one bincount instead of a Python loop per posting.
        self.token_id = {token: n for n, token in enumerate(sorted(df))}
        self.essential = _Postings(len(self.token_id), self.token_id,
                                   ((doc, ess_t) for doc, (_, ess_t, _) in enumerate(ordered)))
        self.optional = _Postings(len(self.token_id), self.token_id,
                                  ((doc, opt_t) for doc, (_, _, opt_t) in enumerate(ordered)))
        self.df = df
        # Words as written in titles, inclusion terms and synonyms, for spelling correction,
        # most frequent first so ties go to common words.
        self.vocabulary = sorted(surface, key=lambda w: (-surface[w], w))


    def state(self) -> dict[str, Any]:
        """Everything the index holds, as plain values marshal can write (worker.resolver.cache).

        Flat: one entry per field (the cache writes them one by one); document codes as
        numbers into `codes`, so reading them back shares the code strings."""
        code_id = {code: n for n, code in enumerate(self.codes)}
        return {
            "exact": self.exact, "codes": self.codes,
            "doc_code": _array_state(np.array([code_id[c] for c in self.doc_code], dtype=np.int32)),
            "doc_kind": bytes(self.doc_kind), "doc_weight": _array_state(self.doc_weight),
            "doc_optional_weight": _array_state(self.doc_optional_weight),
            "doc_full_weight": _array_state(self.doc_full_weight), "token_id": self.token_id,
            "essential": self.essential.state(), "optional": self.optional.state(),
            "df": self.df, "idf": self.idf, "max_idf": self.max_idf, "vocabulary": self.vocabulary,
            "known_words": self.known_words, "shorthand_words": self.shorthand_words,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TextIndex:
        index = cls.__new__(cls)
        for name in ("exact", "codes", "token_id", "df", "idf", "max_idf", "vocabulary",
                     "known_words", "shorthand_words"):
            setattr(index, name, state[name])
        codes = index.codes
        index.doc_code = [codes[n] for n in _array(state["doc_code"]).tolist()]
        index.doc_kind = list(state["doc_kind"])
        for name in ("doc_weight", "doc_optional_weight", "doc_full_weight"):
            setattr(index, name, _array(state[name]))
        index.essential = _Postings.from_state(state["essential"])
        index.optional = _Postings.from_state(state["optional"])
        index.title_words = None
        return index

    def hits(self, key: str) -> list[tuple[str, str]] | None:
        """(code, kind) of every term whose exact key this is, or None."""
        packed = self.exact.get(key)
        if packed is None:
            return None
        if isinstance(packed, int):
            return [(self.codes[packed >> 2], KIND_ORDER[packed & 3])]
        # Code numbers follow the order rows came in; the answer must not.
        return sorted((self.codes[p >> 2], KIND_ORDER[p & 3]) for p in packed)


class _Postings:
    """Document numbers per token id, concatenated, with row offsets (CSR)."""

    __slots__ = ("offsets", "documents")

    def __init__(self, tokens: int, token_id: dict[str, int],
                 rows: Iterable[tuple[int, tuple[str, ...]]]) -> None:
        per_token: list[list[int]] = [[] for _ in range(tokens)]
        for doc, row_tokens in rows:
            for token in row_tokens:
                per_token[token_id[token]].append(doc)
        self.offsets = np.zeros(tokens + 1, dtype=np.int64)
        np.cumsum([len(p) for p in per_token], out=self.offsets[1:])
        self.documents = np.fromiter((doc for p in per_token for doc in p), dtype=np.int32,
                                     count=int(self.offsets[-1]))

    def get(self, token: int) -> np.ndarray:
        return self.documents[self.offsets[token]:self.offsets[token + 1]]

    def state(self) -> tuple[Any, Any]:
        return _array_state(self.offsets), _array_state(self.documents)

    @classmethod
    def from_state(cls, state: tuple[Any, Any]) -> _Postings:
        postings = cls.__new__(cls)
        postings.offsets, postings.documents = _array(state[0]), _array(state[1])
        return postings


def _array_state(array: np.ndarray) -> tuple[str, bytes]:
    return array.dtype.str, array.tobytes()


def _array(state: tuple[str, bytes]) -> np.ndarray:
    return np.frombuffer(state[1], dtype=np.dtype(state[0]))


def _add_exact(exact: dict[str, int | tuple[int, ...]], codes: list[str], code_id: dict[str, int],
               key: str, code: str, kind: str) -> None:
    number = code_id.get(code)
    if number is None:
        number = code_id[code] = len(codes)
        codes.append(code)
    packed = number * 4 + KIND_RANK[kind]
    found = exact.get(key)
    if found is None:
        exact[sys.intern(key)] = packed
    elif isinstance(found, int):
        if found != packed:
            exact[key] = (found, packed)
    elif packed not in found:
        exact[key] = (*found, packed)
