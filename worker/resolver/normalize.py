"""What people type, made comparable: text keys, index tokens, code shapes and input checks."""

from __future__ import annotations

import re
import unicodedata

# Longer entries are not diagnoses but pasted notes or garbage; they are refused, not searched.
MAX_TERM_LENGTH = 500

# Words that carry no meaning for matching (ICD titles and claims text alike).
STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "by", "due", "for", "from", "in", "is", "of", "on", "or",
    "the", "to", "with", "w",
})
# Words that mark a default ("unspecified", "NOS") or are the ICD convention's nonessential
# phrases: a term still matches when the input lacks them.
NONESSENTIAL = frozenset({"unspecified", "nos", "nec"})
_NONESSENTIAL_SET = NONESSENTIAL
# Roman numerals and number words people write for types and stages (type II diabetes,
# stage III CKD, type one diabetes), and ordinals the titles spell out (2nd degree burn).
ROMAN = {"ii": "2", "iii": "3", "iv": "4", "v": "5"}
_NUMBERS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
            "seven": "7", "eight": "8", "nine": "9", "ten": "10", "1st": "first",
            "2nd": "second", "3rd": "third", "4th": "fourth"}
_ROMAN_ONE_AFTER = frozenset({"type", "stage", "grade", "class", "phase", "degree", "category"})

# Byte translation: upper case to lower, anything but a letter or digit to a space.
_KEY_BYTES = bytes(
    ord(chr(b).lower()) if chr(b).isascii() and chr(b).isalnum() else 32 for b in range(256)
)
_PAREN = re.compile(r"\(([^()]*)\)")
_BRACKET = re.compile(r"\[([^\[\]]*)\]")
_DEFAULT_QUALIFIER = re.compile(
    r"\b(unspecified|not specified|NOS|not otherwise specified|not elsewhere classified"
    r"|uncomplicated)\b",
    re.IGNORECASE,
)
_QUALIFIER_WORDS = frozenset({"unspecified", "not", "specified", "nos", "otherwise", "elsewhere",
                              "classified", "uncomplicated"})
# Letters with dots: G.E.R.D. -> GERD, U.T.I. -> UTI.
_DOTTED_ACRONYM = re.compile(r"(?<![A-Za-z0-9])((?:[A-Za-z]\.){2,}[A-Za-z]?)")
# A term with any of these needs the full reading; others are plain words.
_STRUCTURED = re.compile(r"[\[(,]|\bnot\b", re.IGNORECASE)
_NONESSENTIAL_PHRASES = re.compile(
    r"\b(not otherwise specified|not elsewhere classified)\b", re.IGNORECASE
)


def _ascii(text: str) -> bytes:
    if text.isascii():
        return text.encode("ascii")
    # Accents go with the decomposition; what is left outside ASCII is no English word.
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore")


def text_key(text: str) -> str:
    """The exact-match key of a term: folded, punctuation to spaces, spaces collapsed.

    Overrides, titles, inclusion terms, short titles and synonyms are all compared on it:
    "Alzheimer's disease, unspecified" -> "alzheimers disease unspecified", Charcôt -> charcot.
    """
    if "." in text:
        text = _DOTTED_ACRONYM.sub(lambda m: m.group(1).replace(".", ""), text)
    return b" ".join(_ascii(text).translate(_KEY_BYTES, b"'`").split()).decode("ascii")


_STEMS: dict[str, str] = {}


# Noun and adjective of one condition meet on a common stem: diabetes/diabetic,
# hypertension/hypertensive, anemia/anemic, sclerosis/sclerotic, arthritis/arthritic,
# neuropathy/neuropathic, -virus/-viral. Applied to titles and input alike, so it only has to be consistent.
_SUFFIXES = (
    ("tension", "tens"), ("tensive", "tens"), ("etes", "et"), ("etic", "et"), ("emia", "em"),
    ("emic", "em"), ("osis", "o"), ("otic", "o"), ("itis", "it"), ("itic", "it"),
    ("pathy", "path"), ("pathic", "path"),
    # cytomegalovirus/cytomegaloviral, adenovirus/adenoviral (the tabular says "Cytomegaloviral
    # disease", problem lists "CMV infection"); a bare "viral" or "virus" is left alone.
    ("viruse", "vir"), ("virus", "vir"), ("viral", "vir"),
)


def stem(word: str) -> str:
    """Plurals (disorders -> disorder, injuries -> injury) and the noun/adjective pairs above."""
    found = _STEMS.get(word)
    if found is None:
        found = word
        if not word.endswith("etes"):
            if len(word) > 4 and word.endswith("ies"):
                found = word[:-3] + "y"
            elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "os")):
                found = word[:-1]
        for suffix, replacement in _SUFFIXES:
            if found.endswith(suffix) and len(found) - len(suffix) >= 3:
                found = found[: -len(suffix)] + replacement
                break
        if len(_STEMS) < 200_000:
            _STEMS[word] = found
    return found


_ROMAN_TOKENS = frozenset([*ROMAN, *_NUMBERS, "i"])


def words(key: str) -> list[str]:
    """Tokens of a text key with roman numerals read as numbers after type/stage/grade."""
    out = key.split()
    if _ROMAN_TOKENS.isdisjoint(out):
        return out
    for i, word in enumerate(out):
        if word in ROMAN:
            out[i] = ROMAN[word]
        elif word in _NUMBERS:
            out[i] = _NUMBERS[word]
        elif word == "i" and i and out[i - 1] in _ROMAN_ONE_AFTER:
            out[i] = "1"
    return out


def index_tokens(key: str) -> list[str]:
    """Stemmed content tokens of a text key, in order, stop words dropped."""
    return [stem(w) for w in words(key) if w not in STOPWORDS]


def split_term(text: str, key: str | None = None) -> tuple[list[str], list[str], list[str]]:
    """Essential tokens, nonessential tokens and bracketed aliases of an ICD term.

    The ICD convention: words in parentheses are nonessential modifiers; `NOS`, `unspecified`
    and `not elsewhere classified` say which code is the default rather than what the
    condition is. "Essential (primary) hypertension" matches "essential hypertension" and
    "primary essential hypertension" alike. Brackets hold other names ("[HFrEF]").
    `key` is text_key(text) when the caller has it (a plain term is then not read twice).
    """
    if key is not None and not _STRUCTURED.search(text):
        tokens = index_tokens(key)
        if _NONESSENTIAL_SET.isdisjoint(tokens):
            return tokens, [], []
        return ([t for t in tokens if t not in NONESSENTIAL],
                [t for t in tokens if t in NONESSENTIAL], [])
    aliases: list[str] = []
    optional: list[str] = []
    if "[" in text:
        # A bracket at the end names the whole term ("Heart failure with reduced ejection
        # fraction [HFrEF]"); one inside names only the words before it ("Systemic lupus
        # erythematosus [SLE] inhibitor ..."), so it is no alias of the term.
        if text.rstrip().endswith("]"):
            aliases = [a.strip() for a in _BRACKET.findall(text)[-1:] if a.strip()]
        text = _BRACKET.sub(" ", text)
    if "(" in text:
        optional = [w for inner in _PAREN.findall(text) for w in index_tokens(text_key(inner))]
        text = _PAREN.sub(" ", text)
    if "," in text:
        # A qualifier after a comma that says "unspecified"/"not specified"/"NOS" of one thing
        # names the default along one axis: "Pneumonia, unspecified organism" is pneumonia
        # NOS, "Urinary tract infection, site not specified" is UTI NOS. ("stage 3
        # unspecified" says more than that and stays.)
        head, *qualifiers = text.split(",")
        segments: list[tuple[str, list[str] | None]] = [(head, None)]
        for qualifier in qualifiers:
            tokens = index_tokens(text_key(qualifier))
            if _DEFAULT_QUALIFIER.search(qualifier) and \
                    sum(t not in _QUALIFIER_WORDS for t in tokens) <= 1:
                optional.extend(tokens)
            else:
                segments.append((qualifier, tokens))
    else:
        segments = [(text, None)]
    essential: list[str] = []
    for segment, known in segments:
        if known is None or "not " in segment or "NOT " in segment or "Not " in segment:
            if "not " in segment or "NOT " in segment or "Not " in segment:
                segment = _NONESSENTIAL_PHRASES.sub(" nos ", segment)
            known = index_tokens(text_key(segment))
        for token in known:
            (optional if token in NONESSENTIAL else essential).append(token)
    return essential, optional, aliases


# Code shapes, on the upper-cased input with spaces removed (dots kept to read their position).
ICD10_FLAT = re.compile(r"[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}")
_ICD10_DOTTED = re.compile(r"[A-Z][0-9][0-9A-Z]\.[0-9A-Z]{1,4}")
_ICD9_NUM = re.compile(r"[0-9]{3}(\.?[0-9]{1,2})?")
_ICD9_V = re.compile(r"V[0-9]{2}(\.?[0-9]{1,2})?")
_ICD9_E = re.compile(r"E[0-9]{3}(\.?[0-9])?")
_CODE_CHARS = re.compile(r"[A-Za-z0-9. ]+")


def code_candidate(term: str) -> str | None:
    """The input upper-cased without spaces if it could be a code (letters, digits, dots), else None."""
    stripped = term.strip().rstrip(".")
    if not stripped or len(stripped) > 12 or not _CODE_CHARS.fullmatch(stripped):
        return None
    compact = stripped.replace(" ", "").upper()
    return compact if compact.count(".") <= 1 else None


def icd10_flat(compact: str) -> str | None:
    """E11.9 / E119 -> E119 when the shape is ICD-10-CM (a dot only after the category)."""
    if "." in compact and not _ICD10_DOTTED.fullmatch(compact):
        return None
    flat = compact.replace(".", "")
    return flat if ICD10_FLAT.fullmatch(flat) else None


def icd9_dotted(compact: str) -> str | None:
    """4019 / 401.9 -> 401.9, V4581 -> V45.81, E8146 -> E814.6 when the shape is ICD-9-CM."""
    for pattern, head in ((_ICD9_NUM, 3), (_ICD9_V, 3), (_ICD9_E, 4)):
        if pattern.fullmatch(compact):
            if "." in compact and compact.index(".") != head:
                return None
            flat = compact.replace(".", "")
            return flat if len(flat) <= head else f"{flat[:head]}.{flat[head:]}"
    return None


def dotted(flat: str) -> str:
    return flat if len(flat) <= 3 else f"{flat[:3]}.{flat[3:]}"


# Lone surrogates are what undecodable bytes become (errors="surrogateescape"); C0/C1 controls
# other than tab and line ends have no place in a diagnosis.
_SURROGATES = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def input_problem(term: str) -> str | None:
    """Why a term cannot be read at all (None if it can). Never echoes the input."""
    if len(term) > MAX_TERM_LENGTH:
        return f"entry is longer than {MAX_TERM_LENGTH} characters; a diagnosis entry is one short term"
    if not term.isprintable():  # cheap test first; most entries are plain printable text
        if _SURROGATES.search(term):
            return "entry is not valid UTF-8 text"
        if _CONTROL.search(term):
            return "entry contains control characters"
    if not term.strip():
        return "entry is empty"
    if not any(ch.isalnum() for ch in term):
        return "entry has no letters or digits"
    return None
