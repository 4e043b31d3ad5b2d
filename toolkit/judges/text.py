"""Text pieces the offline judge reasons with: claims, stance, quantities with units, negation, content words.

These work on the raw reply (judges see what the model wrote). Number and unit parsing here is the judge's own
comparison of *claims* against evidence; answer extraction for scorers lives in ``toolkit.extraction``.
"""

import re
import unicodedata
from dataclasses import dataclass

from toolkit.extraction.text import _ABSTAIN, fold

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})
_CITATION = re.compile(r"\s*\[(?:c?\d+(?:\s*,\s*c?\d+)*)\]", re.IGNORECASE)
_MARKUP = re.compile(r"[*_`#]+")
_ABBREV = r"(?<!\bSt)(?<!\bMt)(?<!\bNo)(?<!\bDr)(?<!\bU\.S)(?<!\be\.g)(?<!\bi\.e)(?<!\bapprox)(?<!\bca)"
_SENTENCE = re.compile(_ABBREV + r"(?<=[.!?])\s+|\n+")
_CLAUSE = re.compile(
    r",?\s+\b(?:but|however|although|though|whereas|while)\b\s*,?\s*|,\s*(?:and\s+)?(?:which|who|where)\s+"
    r"|,\s+and\s+(?=(?:it|its|the|this|that|they|there|he|she)\b)|,\s+(?=(?:a|an|home\s+to|at|with)\s)|\s+-{1,2}\s+|\s+\u2014\s*",
    re.IGNORECASE,
)
NEGATION = re.compile(
    r"\b(?:not|no|never|none|neither|nor|without|cannot|isn't|aren't|wasn't|weren't|doesn't|don't|didn't|hasn't"
    r"|haven't|won't|can't|couldn't|shouldn't|wouldn't|nothing|nobody|lacks?|false|incorrect|untrue)\b|n't\b",
    re.IGNORECASE,
)
_STOP_WORDS = (
    "a an the of in on at to for from by with and or is are was were be been being it its it's this that these those "
    "which who whom what when where how why does do did has have had as than then there their they them i you he "
    "she we my our your his her me us also about approximately around roughly nearly almost some any all each "
    "would could should may might must can will shall just only very so such into onto over under up down out "
    "if whether because since yes yeah ok okay well here s per both either one whose whom thing after before many much "
    "honestly really actually basically".split()
)
STOP = frozenset(_STOP_WORDS)
_GENERIC_WORDS = (
    "thousand million billion trillion answer question country countries nation state capital city name named called official officially "
    "currency total estimated estimate population people inhabitants residents area square sq km km2 kilometres "
    "kilometers kilometre kilometer miles mi size land located correct right true indeed likely probably think "
    "believe say said according context passage text document documents information given provided based "
    "sure certainly believe guess highest point long form conventional larger largest bigger more than less "
    "bordering border borders neighbours neighbors neighbouring neighboring share shares used use uses known "
    "language languages spoken roughly exactly precisely measures covers cover has have lives live number "
    "figure value recent latest current currently today sure certain metres meters metre meter m ft feet foot "
    "mile hectares hectare percent tall high elevation".split()
)
"""Words an answer may add around its gold answer without asserting anything new (tuned on the dev split)."""


def clean(text: str) -> str:
    """Curly quotes to straight, citations and markdown removed, Unicode normalised (NFKC: ² -> 2)."""
    text = unicodedata.normalize("NFKC", (text or "").translate(_QUOTES))
    return _MARKUP.sub("", _CITATION.sub("", text)).strip()


def _stem(token: str) -> str:
    """A plural is dropped so 'borders' meets 'border' and 'countries' meets 'country'."""
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def _raw_words(text: str) -> list[str]:
    return [t.split("'")[0] for t in re.findall(r"[^\W_]+(?:'[^\W_]+)?", clean(text).lower())]


def words(text: str) -> list[str]:
    """Lower-case, singular word tokens (for phrase matching)."""
    return [_stem(t) for t in _raw_words(text)]


def content(text: str) -> set[str]:
    """Content words: no stop words, no bare numbers (numbers are compared as quantities)."""
    return {_stem(w) for w in _raw_words(text) if w not in STOP and not w.isdigit() and not NEGATION.fullmatch(w)}


GENERIC = frozenset(_stem(w) for w in _GENERIC_WORDS)


def sentences(text: str) -> list[str]:
    return [s.strip(" \t-•") for s in _SENTENCE.split(clean(text)) if s and s.strip(" \t-•.")]


def claims(text: str) -> list[str]:
    """The answer's claims: sentences and semicolon parts, split again at clause connectives ("but", ", which")."""
    out = []
    for sentence in (part for s in sentences(text) for part in s.split(";")):
        out += [c.strip(" ,.") for c in _CLAUSE.split(sentence) if c and c.strip(" ,.")]
    return out


def names(text: str, *, initial: bool = False) -> set[str]:
    """Capitalised words as content words ("Paris", "Brasília"); sentence-initial ones only with ``initial``."""
    pattern = r"\b[A-Z][^\W_]+" if initial else r"(?<![.!?]\s)(?<!^)\b[A-Z][^\W_]+"
    return {_stem(w.lower()) for w in re.findall(pattern, clean(text))} - STOP


def is_negated(text: str) -> bool:
    return NEGATION.search(clean(text)) is not None


def is_abstaining_clause(text: str) -> bool:
    """One definition of declining, shared with the scorers (``toolkit.extraction``)."""
    return _ABSTAIN.search(fold(clean(text))) is not None


# ---------------------------------------------------------------- quantities

_SCALE = {"thousand": 1e3, "k": 1e3, "million": 1e6, "mln": 1e6, "m": 1e6, "billion": 1e9, "bn": 1e9,
          "trillion": 1e12}
_UNITS = (  # (pattern, dimension, factor to the dimension's base unit)
    (r"sq\.?\s*km|km2|square\s+kilomet(?:re|er)s?|km\s*sq", "area", 1.0),
    (r"sq\.?\s*mi(?:les?)?|square\s+miles?|mi2", "area", 2.589988),
    (r"hectares?|ha\b", "area", 0.01),
    (r"kilomet(?:re|er)s?|km\b", "length", 1000.0),
    (r"metres?|meters?|m\b", "length", 1.0),
    (r"miles?|mi\b", "length", 1609.344),
    (r"feet|foot|ft\b", "length", 0.3048),
    (r"%|per\s*cent|percent", "percent", 1.0),
)
_NUMBER = re.compile(
    r"(?<![\w.])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:\s*(thousand|million|mln|billion|bn|trillion|k|m)\b)?"
    r"\s*(" + "|".join(p for p, _, _ in _UNITS) + r")?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Quantity:
    value: float
    dimension: str = ""
    step: float = 0.0
    """Half the place value of the last significant digit written: '640,000' allows rounding to +-5,000."""


def quantities(text: str) -> list[Quantity]:
    """Numbers with scale words and units ("0.64 million sq km" -> 640,000 area); years are kept as plain numbers."""
    out = []
    for match in _NUMBER.finditer(clean(text)):
        digits, scale, unit = match.groups()
        if scale and scale.lower() == "m" and not unit and match.group(0).rstrip().endswith("m"):
            scale, unit = None, "m"  # "4,810 m" is metres, not millions
        plain = digits.replace(",", "")
        value = float(plain) * (_SCALE[scale.lower()] if scale else 1.0)
        dimension, factor = "", 1.0
        for pattern, dim, fac in _UNITS:
            if unit and re.fullmatch(pattern, unit.strip(), re.IGNORECASE):
                dimension, factor = dim, fac
                break
        decimals = len(plain.split(".")[1]) if "." in plain else 0
        trailing = 0 if decimals else len(plain) - len(plain.rstrip("0"))
        place = 10.0 ** (trailing - decimals) if plain.strip("0") else 1.0
        scale_factor = _SCALE[scale.lower()] if scale else 1.0
        out.append(Quantity(value * factor, dimension, 0.5 * place * scale_factor * factor))
    return out


def is_year(q: Quantity) -> bool:
    """A bare integer between 1000 and 2100 is read as a year and compared exactly ("since 1987" is not "2025")."""
    return not q.dimension and q.value.is_integer() and 1000 <= q.value <= 2100 and q.step <= 50  # "2020" too


def consistent(claimed: Quantity, evidence: Quantity, tolerance: float) -> bool:
    """Same dimension (or one side unitless) and within tolerance, or a rounding of it (at most 10% off)."""
    if claimed.dimension and evidence.dimension and claimed.dimension != evidence.dimension:
        return False
    if is_year(claimed) or is_year(evidence):
        return claimed.value == evidence.value
    gap = abs(claimed.value - evidence.value)
    scale = max(abs(evidence.value), 1e-9)
    return gap <= tolerance * scale or (gap < claimed.step and gap <= 0.1 * scale)


# ---------------------------------------------------------------- superlatives

_SUPERLATIVE = (r"(?:largest|biggest|greatest|highest|tallest|longest|deepest|oldest|newest|smallest|shortest|lowest"
                r"|busiest|richest|poorest|most\s+\w+|least\s+\w+)")
_RANKED = re.compile(r"\b(?:second|third|fourth|fifth|sixth|2nd|3rd|4th|5th|6th)[\s-]+(" + _SUPERLATIVE + r")\b", re.I)
_TOP = re.compile(r"(?<![\w-])(?<!second )(?<!third )(" + _SUPERLATIVE + r")\b", re.I)


def superlatives(text: str) -> set[str]:
    """Unranked superlatives ("the largest"), not "the second-largest"."""
    text = _RANKED.sub(" ", clean(text))
    return {m.lower() for m in _TOP.findall(text)}


def ranked(text: str) -> set[str]:
    """Superlatives with a rank below first ("second-largest", "third highest")."""
    return {m.lower() for m in _RANKED.findall(clean(text))}


def demotes(evidence: str, claim: str) -> bool:
    """The evidence ranks below first what the claim calls the top ("X is the largest" vs "the second-largest")."""
    top = superlatives(claim)
    return bool(top & ranked(evidence)) and not top & superlatives(evidence)
