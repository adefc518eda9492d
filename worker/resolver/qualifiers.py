"""What an entry or a title states besides the condition: side, encounter, acuity, with/without, history.

The resolver reads the same qualifiers from the entry (once per distinct entry) and from each
candidate's title, so a candidate whose title contradicts the entry ("with obstruction" for
"without obstruction", family history for personal history, congenital for acquired) is set
aside, and one that satisfies what the entry states (the left-side child, the subsequent
encounter) is preferred over its siblings.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from worker.memo import remember
from worker.resolver.normalize import stem, text_key

SIDES = ("right", "left", "bilateral")
ENCOUNTERS = ("initial", "subsequent", "sequela")
ACUITIES = ("acute", "chronic", "acute on chronic")

# Entry words (text keys: lower case, punctuation gone) for each side. One letter "r"/"l" only
# counts as the last word or before an encounter word ("fracture of femur, l, initial").
_SIDE_WORDS = {"right": "right", "rt": "right", "left": "left", "lt": "left",
               "bilateral": "bilateral", "bil": "bilateral", "bilat": "bilateral",
               "both": "bilateral", "bilaterally": "bilateral"}
_ENCOUNTER_WORDS = {"initial": "initial", "init": "initial", "subsequent": "subsequent",
                    "subs": "subsequent", "sequela": "sequela", "sequelae": "sequela",
                    "subseq": "subsequent"}
_TRIMESTERS = {"first": "1", "1st": "1", "second": "2", "2nd": "2", "third": "3", "3rd": "3"}
_STAGE = re.compile(r"\bstage (\d[ab]?|[iv]+|5|unspecified)\b")
_ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5"}
_TRIMESTER = re.compile(r"\b(first|second|third|1st|2nd|3rd|unspecified) trimester\b")
_WITH = re.compile(r"\b(with|without|w o|wo)\b")
# Phrases that end a with/without clause inside a title: "..., with X" stops at the comma.
_CLAUSE_END = re.compile(r",|\b(?:with|without|and|or|due to|in|of)\b")
_NOT_FEATURES = frozenset({"mention", "other", "unspecified", "specified", "the", "a", "an",
                           "both", "acute", "chronic", "complication", "complications"})

# Outpatient coding does not code these as confirmed (ICD-10-CM Guidelines IV.H).
_UNCERTAIN = re.compile(
    r"^(?:r o|ro|rule out|to rule out|possible|poss|probable|prob|suspected|suspect|suspicion of"
    r"|suspicious for|questionable|query|presumed|presumptive|likely|working diagnosis"
    r"|consistent with|compatible with|concern for|differential)\b"
    r"|\b(?<!graft )(?<!partial )(?:versus|vs|v s)\b(?! host)"
    r"|\b(?:r o|rule out|possible|probable|suspected|questionable|likely)$"
)
_NEGATED = re.compile(
    r"^(?:no|not|denies|denied|negative for|neg for|negative|free of"
    r"|ruled out|r o d|rules out|never had|no evidence of|no signs of|no history of|no hx of)\b"
    r"|\b(?:ruled out|negative|neg)$"
)
# "history of", "hx", "h/o" (key "h o"), "personal history", "past history".
_PERSONAL = re.compile(r"\b(?:personal history|history of|history|hx|h o|past history|phx"
                       r"|pmh|hist of)\b")
_FAMILY = re.compile(r"\b(?:family history|family hx|fh|fhx|family h o|fam hx|fam history)\b")
_EXPOSURE = re.compile(r"\b(?:exposure|exposed|contact with)\b")


class Qualifiers(NamedTuple):
    """What a text states apart from the condition itself; None or empty where it is silent."""

    side: str | None = None  # right | left | bilateral | unilateral (titles) | unspecified
    encounter: str | None = None  # initial | subsequent | sequela
    acuity: str | None = None  # acute | chronic | acute on chronic | chronic or unspecified
    with_: frozenset[str] = frozenset()  # stems named after "with"
    without: frozenset[str] = frozenset()  # stems named after "without"
    history: str | None = None  # personal | family
    exposure: bool = False
    congenital: bool = False
    acquired: bool = False
    perinatal: bool = False
    pregnancy: bool = False
    other: bool = False  # "other (specified) ..."
    unspecified: bool = False  # "unspecified ..." as the title's first word
    trimester: str | None = None  # 1 | 2 | 3 | unspecified
    stage: str | None = None  # 1 .. 5, 3a, 3b, unspecified
    negated: str = ""  # the negating words, for the message
    uncertain: str = ""  # the words that make the diagnosis uncertain

    def stated(self) -> bool:
        """True when the text states a qualifier a title could satisfy or contradict."""
        return bool(self.side or self.encounter or self.acuity or self.with_ or self.without
                    or self.history or self.exposure or self.congenital or self.acquired
                    or self.other or self.trimester or self.stage)


_ENTRY_MEMO: dict[str, Qualifiers] = {}
_TITLE_MEMO: dict[tuple[str, str], Qualifiers] = {}
_MEMO_SIZE = 200_000


def of_entry(key: str) -> Qualifiers:
    """The qualifiers a text key of an entry states (memoized per distinct key)."""
    found = _ENTRY_MEMO.get(key)
    if found is None:
        found = remember(_ENTRY_MEMO, key, _read(key, entry=True), _MEMO_SIZE)
    return found


def of_title(code: str, title: str) -> Qualifiers:
    """The qualifiers a code's title states; the code itself says history (Z80-Z87) and chapter."""
    found = _TITLE_MEMO.get((code, title))
    if found is None:
        found = _read(text_key(title), entry=False, code=code)
        found = remember(_TITLE_MEMO, (code, title), found, _MEMO_SIZE)
    return found


_CODE_FLAGGED = ("Z8", "Z92", "I25.2", "Z20", "Z77", "Q", "P", "O", "Z33", "Z34", "Z3A")
_CONGENITAL_WORDS = frozenset({"congenital", "hereditary", "inherited", "familial"})
_PERINATAL_WORDS = frozenset({"newborn", "neonatal", "neonate", "perinatal", "fetus", "fetal"})
_PREGNANCY_WORDS = frozenset({"pregnancy", "pregnant", "puerperium", "puerperal", "childbirth",
                              "obstetric", "gestational", "trimester", "antepartum", "postpartum",
                              "labor", "delivery", "maternal", "preeclampsia", "eclampsia"})
_HISTORY_HINTS = ("hist", "hx", "fh", "h o", "pmh")
_UNSPECIFIED_SIDE = re.compile(
    r"\bunspecified (?:ear|eye|knee|hip|shoulder|elbow|wrist|hand|foot|ankle|leg|arm"
    r"|upper limb|lower limb|lower extremity|upper extremity|lung|kidney|breast"
    r"|femur|tibia|fibula|humerus|radius|ulna|finger|toe|thigh|lower leg|forearm"
    r"|upper arm|side|orbit|eyelid|great toe|lesser toe|thumb|index finger"
    r"|middle finger|ring finger|little finger|buttock|ovary|fallopian tube|testis"
    r"|ureter|adrenal gland|bronchus or lung|clavicle|scapula|calcaneus|patella)\b")


# A title holding none of these words states no qualifier (most titles): read it at once.
_TRIGGERS = frozenset({
    *_SIDE_WORDS, *_ENCOUNTER_WORDS, "unilateral", "acute", "chronic", "with", "without", "w",
    "wo", "trimester", "stage", "acquired", "other", "unspecified", "exposure", "exposed",
    "contact", "history", "hx", "fh", "fhx", "pmh", "phx", "infant", "eclampsia",
    *_CONGENITAL_WORDS, *_PERINATAL_WORDS, *_PREGNANCY_WORDS})
_PLAIN = Qualifiers()
_SIDE_OR_ENCOUNTER = frozenset({*_SIDE_WORDS, *_ENCOUNTER_WORDS})


def _read(key: str, *, entry: bool, code: str = "") -> Qualifiers:
    tokens = key.split()
    words = frozenset(tokens)
    if not entry and words.isdisjoint(_TRIGGERS) and not code.startswith(_CODE_FLAGGED):
        return _PLAIN
    side = None
    encounter = None
    loop = entry or not words.isdisjoint(_SIDE_OR_ENCOUNTER)
    for at, word in enumerate(tokens if loop else ()):
        if word in _SIDE_WORDS and not (word == "both" and not entry):
            side = side or _SIDE_WORDS[word]
        elif word in _ENCOUNTER_WORDS and (entry or word in ("initial", "subsequent", "sequela")):
            encounter = encounter or _ENCOUNTER_WORDS[word]
        elif entry and word in ("r", "l") and at and (
                at == len(tokens) - 1 or tokens[at + 1] in _ENCOUNTER_WORDS):
            side = side or ("right" if word == "r" else "left")
    if not entry:
        if "unspecified" in words and _UNSPECIFIED_SIDE.search(key):
            side = "unspecified" if side is None else side
        elif side is None and "unilateral" in words:
            side = "unilateral"
        if "bilateral" in words:
            side = "bilateral"
    acuity = None
    if "acute" in words or "chronic" in words:
        if re.search(r"\bacute (?:on|and) chronic\b", key):
            acuity = "acute on chronic"
        elif not entry and "chronic or unspecified" in key:
            acuity = "chronic or unspecified"
        elif "acute" in words:
            acuity = "acute on chronic" if "chronic" in words else "acute"
        else:
            acuity = "chronic"
    with_: set[str] = set()
    without: set[str] = set()
    if "with" in words or "without" in words or "w" in words or "wo" in words:
        for match in _WITH.finditer(key):
            rest = key[match.end():]
            end = _CLAUSE_END.search(rest)
            clause = rest[:end.start()] if end else rest
            stems = {stem(w) for w in clause.split() if len(w) > 2 and w not in _NOT_FEATURES}
            (with_ if match.group(1) == "with" else without).update(stems)
        both = with_ & without
        with_ -= both
        without -= both
    history = None
    if any(hint in key for hint in _HISTORY_HINTS):
        if _FAMILY.search(key):
            history = "family"
        elif _PERSONAL.search(key):
            history = "personal"
    trimester = None
    if "trimester" in words:
        found = _TRIMESTER.search(key)
        if found:
            trimester = _TRIMESTERS.get(found.group(1), found.group(1))
    stage = None
    if "stage" in words:
        found = _STAGE.search(key)
        if found:
            stage = _ROMAN.get(found.group(1), found.group(1))
    elif entry and "ckd" in words:
        found = re.search(r"\bckd (\d[ab]?)\b", key)
        stage = found.group(1) if found else None
    negated = uncertain = ""
    if entry:
        found = _NEGATED.search(key)
        negated = found.group(0) if found else ""
        found = _UNCERTAIN.search(key)
        uncertain = found.group(0) if found else ""
    if code:  # a title: the code's place in the classification says what the words may not
        if code.startswith(("Z80", "Z81", "Z82", "Z83", "Z84")):
            history = "family"
        elif code.startswith(("Z85", "Z86", "Z87", "Z92")) or code == "I25.2":
            history = "personal"
    return Qualifiers(
        side=side, encounter=encounter, acuity=acuity, with_=frozenset(with_),
        without=frozenset(without), history=history,
        exposure=("expos" in key or "contact with" in key) and bool(_EXPOSURE.search(key))
        or code.startswith(("Z20", "Z77")),
        congenital=not _CONGENITAL_WORDS.isdisjoint(words) or code.startswith("Q"),
        acquired="acquired" in words,
        perinatal=not _PERINATAL_WORDS.isdisjoint(words) or "infant of" in key
        or code.startswith("P"),
        pregnancy=not _PREGNANCY_WORDS.isdisjoint(words) or "pre eclampsia" in key
        or code.startswith(("O", "Z33", "Z34", "Z3A")),
        other=tokens[:1] == ["other"] or key.startswith("other specified"),
        unspecified=tokens[:1] == ["unspecified"], trimester=trimester, stage=stage,
        negated=negated, uncertain=uncertain)


def conflict(entry: Qualifiers, title: Qualifiers) -> str:
    """Why the title contradicts what the entry states, or "" when it does not."""
    if entry.side in ("right", "left") and title.side in ("right", "left", "bilateral") \
            and title.side != entry.side:
        return "side"
    if entry.side == "bilateral" and title.side in ("right", "left", "unilateral"):
        return "side"
    if entry.encounter and title.encounter and entry.encounter != title.encounter:
        return "encounter"
    if entry.acuity and title.acuity and entry.acuity != title.acuity and not (
            title.acuity == "chronic or unspecified" and entry.acuity == "chronic"):
        return "acuity"
    if entry.without & title.with_ or entry.with_ & title.without:
        return "with/without"
    if entry.history != title.history:
        return "history"
    if entry.exposure != title.exposure:
        return "exposure"
    if entry.congenital and not title.congenital or entry.acquired and title.congenital:
        return "congenital/acquired"
    if entry.other and title.unspecified or entry.unspecified and title.other:
        return "other/unspecified"
    if entry.trimester and title.trimester not in (None, "unspecified", entry.trimester):
        return "trimester"
    if entry.stage and title.stage not in (None, "unspecified", entry.stage):
        return "stage"
    return ""


def chapter_mismatch(entry: Qualifiers, title: Qualifiers) -> bool:
    """A congenital, perinatal or pregnancy code for an entry that says nothing of it."""
    return (title.congenital and not entry.congenital
            or title.perinatal and not entry.perinatal
            or title.pregnancy and not entry.pregnancy)


def satisfied(entry: Qualifiers, title: Qualifiers) -> int:
    """How many of the qualifiers the entry states the title states too (side, encounter,
    acuity, with, trimester, stage): siblings that differ only there are told apart by it."""
    count = 0
    if entry.side and (title.side == entry.side or
                       entry.side in ("right", "left") and title.side == "unilateral"):
        count += 1
    if entry.encounter and title.encounter == entry.encounter:
        count += 1
    if entry.acuity and (title.acuity == entry.acuity or
                         entry.acuity == "chronic" and title.acuity == "chronic or unspecified"):
        count += 1
    if entry.with_ and entry.with_ <= title.with_:
        count += 1
    if entry.without and entry.without <= title.without:
        count += 1
    if entry.trimester and title.trimester == entry.trimester:
        count += 1
    if entry.stage and title.stage == entry.stage:
        count += 1
    return count


def unmet(entry: Qualifiers, title: Qualifiers) -> str:
    """A qualifier the entry states that the title leaves unspecified or unsaid (the side,
    the encounter, the trimester), or ""."""
    if entry.side and title.side in (None, "unspecified") and title.side != entry.side:
        return "side"
    if entry.encounter and title.encounter is None:
        return "encounter"
    if entry.trimester and title.trimester in (None, "unspecified"):
        return "trimester"
    return ""


def satisfied_names(entry: Qualifiers, title: Qualifiers) -> list[str]:
    """The qualifiers `satisfied` counts, by name and value ("side left", "encounter
    initial"): what a reviewer is shown beside each candidate (worker.review)."""
    names = []
    if entry.side and (title.side == entry.side or
                       entry.side in ("right", "left") and title.side == "unilateral"):
        names.append(f"side {entry.side}")
    if entry.encounter and title.encounter == entry.encounter:
        names.append(f"encounter {entry.encounter}")
    if entry.acuity and (title.acuity == entry.acuity or
                         entry.acuity == "chronic" and title.acuity == "chronic or unspecified"):
        names.append(f"acuity {entry.acuity}")
    if entry.with_ and entry.with_ <= title.with_:
        names.append("with " + " ".join(sorted(entry.with_)))
    if entry.without and entry.without <= title.without:
        names.append("without " + " ".join(sorted(entry.without)))
    if entry.trimester and title.trimester == entry.trimester:
        names.append(f"trimester {entry.trimester}")
    if entry.stage and title.stage == entry.stage:
        names.append(f"stage {entry.stage}")
    return names
