"""Token scoring of free text against a release's terms: candidates from postings, IDF-weighted F-score."""

from __future__ import annotations

import dataclasses

import numpy as np

from worker.resolver.hierarchy import CodeTable
from worker.resolver.normalize import NONESSENTIAL, STOPWORDS, stem, words
from worker.resolver.spelling import Speller
from worker.resolver.textindex import OPTIONAL_COST, TextIndex

# How much a corrected word counts, by number of edits: a typo fixed is likely, not certain.
CORRECTION_FACTOR = {0: 1.0, 1: 0.9, 2: 0.8, 3: 0.7}
# The recall-weighted F-score: words of the input the term does not explain cost more than
# words of the term the input leaves out ("type 2 diabetes" still names E11).
BETA2 = 4.0

# Best documents looked at per query (they collapse to fewer codes), and the codes kept:
# the answer, its runner-up and the alternatives.
_TOP = 40
_CODES = 8
_COMMON_DF = 400
_COMMON_SHARE = 0.4
# From this many postings on, candidates are summed densely (see score).
_DENSE_FROM = 6000


@dataclasses.dataclass(frozen=True, slots=True)
class Query:
    """The content words of an input, corrected against the vocabulary, with IDF weights."""

    tokens: tuple[tuple[str, float], ...]  # (vocabulary word, weight x correction factor)
    total: float  # weight of everything the input says, unknown words included
    corrected: bool  # a word was corrected or is unknown
    unknown: int  # words neither known nor correctable


@dataclasses.dataclass(frozen=True, slots=True)
class Candidate:
    """A scored final code: a billable code, or a header with no default (a person must choose)."""

    score: float
    code: str  # the billable code (default of a header) or the header itself
    term_code: str  # the code whose term matched
    kind: int  # term kind rank of the best matching term
    billable: bool
    perfect: bool  # every content word matched a term exactly, and the term is fully covered


def content_words(key: str, known: Speller | None = None) -> list[str]:
    """Content words of a key as written (stop words and default words dropped); two words
    the vocabulary knows as one are joined (gall stones -> gallstones, heart burn -> heartburn)."""
    seen: dict[str, None] = {}
    raw = words(key)
    if known is not None:
        split = [known.split_number(w) if w not in known else None for w in raw]
        if any(split):
            raw = [part for w, parts in zip(raw, split, strict=True) for part in (parts or (w,))]
    i = 0
    while i < len(raw):
        word = raw[i]
        if known is not None and i + 1 < len(raw) and word + raw[i + 1] in known:
            seen.setdefault(word + raw[i + 1], None)
            i += 2
            continue
        if word not in STOPWORDS and word not in NONESSENTIAL:
            seen.setdefault(word, None)
        i += 1
    return list(seen)


def make_query(key: str, index: TextIndex, speller: Speller) -> Query | None:
    """Weighted index tokens of a key; a word the index does not know is corrected as written
    (hypertention -> hypertension) and then stemmed."""
    tokens: dict[str, float] = {}
    total = 0.0
    corrected = False
    unknown = 0
    idf = index.idf
    fallback = index.max_idf
    for word in content_words(key, speller):
        token = stem(word)
        weight = idf.get(token)
        if weight is not None:
            tokens[token] = max(tokens.get(token, 0.0), weight)
            total += weight
            continue
        replacement, edits = speller.correct(word)
        corrected = True
        parts = [stem(part) for part in replacement if stem(part) in idf]
        if not parts:
            unknown += 1
            total += fallback
            continue
        factor = CORRECTION_FACTOR.get(edits, 0.6)
        for part in parts:
            weight = idf[part]
            tokens[part] = max(tokens.get(part, 0.0), weight * factor)
            total += weight
    if not tokens:
        return None
    return Query(tuple(tokens.items()), total, corrected, unknown)


def score(query: Query, index: TextIndex, table: CodeTable,
          allow: np.ndarray | None = None) -> list[Candidate]:
    """Candidates best first: recall-weighted F of query recall and term precision over IDF.

    Recall: how much of the input the term explains (its essential and nonessential words).
    Precision: how much of the term's essential words the input names. Word order, stop
    words and punctuation do not count; missing words cost their weight. `allow` (a boolean
    per document) keeps only the documents it marks: the history codes for "h/o DVT".
    """
    token_id = index.token_id
    postings = []  # (essential docs, optional docs, weight) per word of the input
    for token, weight in query.tokens:
        tid = token_id[token]
        postings.append((index.essential.get(tid), index.optional.get(tid), weight))
    # Words in thousands of terms ("left", "fracture") only add weight to terms a rarer word
    # found, as long as they carry too little of the input for a term holding nothing else
    # to reach REVIEW_AT (recall below 0.4): the answer is the same, the work much smaller.
    common = [p for p in postings if len(p[0]) > _COMMON_DF]
    rare = [p for p in postings if 0 < len(p[0]) <= _COMMON_DF]
    if not rare or allow is not None or sum(p[2] for p in common) >= _COMMON_SHARE * query.total:
        # (Within `allow` a common word may be the only one the allowed terms hold.)
        rare, common = [p for p in postings if len(p[0])], []
    if not rare:
        return []
    # Sparse sums: the documents holding a rarer essential word of the input, sorted, and the
    # weight each matched (work in proportion to the postings, not to the index size).
    if len(rare) == 1:  # one word brings the candidates: its posting is already sorted, unique
        found = rare[0][0]
        matched = np.full(len(found), rare[0][2])
    else:
        all_docs = np.concatenate([p[0] for p in rare])
        weights = np.repeat([p[2] for p in rare], [len(p[0]) for p in rare])
        if len(all_docs) > _DENSE_FROM:
            # Long postings: one dense sum over all documents is cheaper than sorting them
            # (np.unique sorts; this is two linear passes). Weights are positive IDFs.
            dense = np.bincount(all_docs, weights, minlength=len(index.doc_kind))
            found = np.flatnonzero(dense)
            matched = dense[found]
        else:
            found, inverse = np.unique(all_docs, return_inverse=True)
            matched = np.bincount(inverse, weights)
    if allow is not None:
        keep = allow[found]
        found, matched = found[keep], matched[keep]
        if not len(found):
            return []
    for docs, _, weight in common:
        at = np.minimum(np.searchsorted(docs, found), len(docs) - 1)
        matched += weight * (docs[at] == found)
    optional_sum = None
    optional = [p for p in postings if len(p[1])]
    if optional:
        docs = np.concatenate([p[1] for p in optional]) if len(optional) > 1 else optional[0][1]
        at = np.searchsorted(found, docs)
        hit = at < len(found)
        hit[hit] = found[at[hit]] == docs[hit]
        if hit.any():
            weights = np.repeat([p[2] for p in optional], [len(p[1]) for p in optional])
            optional_sum = np.bincount(at[hit], weights[hit], minlength=len(found))
    if optional_sum is None:  # no nonessential word named: the usual case, fewer steps
        recall = np.minimum(matched / query.total, 1.0)
        precision = matched / index.doc_full_weight[found]
    else:
        recall = np.minimum((matched + optional_sum) / query.total, 1.0)
        unmatched = np.maximum(index.doc_optional_weight[found] - optional_sum, 0.0)
        precision = matched / (index.doc_weight[found] + OPTIONAL_COST * unmatched)
    value = (1 + BETA2) * precision * recall / (BETA2 * precision + recall)
    if len(found) > _TOP:
        keep = np.argpartition(-value, _TOP - 1)[:_TOP]
        found, value = found[keep], value[keep]
    order = np.lexsort((found, -value))  # best first; equal scores: the shorter term first
    return _by_code(value[order].tolist(), found[order].tolist(), query, index, table)


def _by_code(values: list[float], docs: list[int], query: Query, index: TextIndex,
             table: CodeTable) -> list[Candidate]:
    """Documents to codes (a category to its default code), best document per code, until
    enough codes are found for a decision and its alternatives."""
    by_code: dict[str, Candidate] = {}
    doc_code, doc_kind = index.doc_code, index.doc_kind
    billable = table.billable
    last = -1.0
    for points, doc in zip(values, docs, strict=True):
        if len(by_code) >= _CODES and points < last:
            break
        last = points
        term_code = doc_code[doc]
        final = term_code if term_code in billable else table.default_code(term_code)
        code = final or term_code
        kind = doc_kind[doc]
        known = by_code.get(code)
        if known is not None and (known.score > points or
                                  (known.score == points and known.kind <= kind)):
            continue
        perfect = points >= 0.9999 and not query.corrected
        by_code[code] = Candidate(points, code, term_code, kind, final is not None, perfect)
    return sorted(by_code.values(), key=lambda c: (-round(c.score, 6), not c.billable, c.kind,
                                                   table.rank(c.code), c.code))
