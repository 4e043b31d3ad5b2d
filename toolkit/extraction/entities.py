"""Gold-side aliases and a gazetteer of entity names, built from the Factbook corpus (``rag_corpus/docs``).

A model that answers "The USA." to a question whose gold is "United States" is right; one that lists "Republic"
for "Czech Republic" or "Guinea" for "Equatorial Guinea" is not. Both decisions need to know which names denote
the same entity. Each Factbook document states its entity's names under "Country name" (conventional long and
short forms, local forms, abbreviations, former names); ``_EXTRA`` adds a few common English names it does not
list ("Myanmar", "Ivory Coast", "U.S."). Names are compared by ``entity_key`` (case, accents, punctuation,
articles, "St." = "Saint", "U.S.A." = "USA"). A name that would denote two entities equally ("Serbia and
Montenegro" as a former name of both) denotes neither: an ambiguous name never matches.

Used by the scorers (``toolkit.metrics.accuracy``), the judges and, for splitting lists without gold answers, by
``toolkit.extraction.list_items``. Deterministic, loaded once per process (~0.1 s).
"""

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from toolkit.extraction.text import normalize
from toolkit.paths import REPO_ROOT

DOCS_DIR = REPO_ROOT / "rag_corpus" / "docs"
_FIELDS = {  # Country name field -> priority (lower wins when two entities share a name)
    "conventional short form": 1,
    "conventional long form": 2,
    "abbreviation": 3,
    "local short form": 4,
    "local long form": 4,
    "former": 5,
}
_TITLE, _EXTRA_PRIORITY = 0, 3
_OWN_NAMES = frozenset({_TITLE, _FIELDS["conventional short form"], _FIELDS["abbreviation"], _EXTRA_PRIORITY})
"""Priorities of names that denote the entity as such; long, local and former forms are forms of its name."""
_EXTRA: dict[str, tuple[str, ...]] = {
    "United States": ("USA", "U.S.", "U.S.A.", "United States of America"),
    "United Kingdom": ("Great Britain", "Britain", "U.K."),
    "Burma": ("Myanmar",),
    "Turkey": ("Turkiye", "Türkiye"),
    "Czechia": ("Czech Republic",),
    "Côte d'Ivoire": ("Ivory Coast", "Cote d'Ivoire"),
    "DRC": ("DR Congo", "Congo-Kinshasa", "Democratic Republic of Congo", "DROC"),
    "Congo (Brazzaville)": ("Republic of Congo", "Congo-Brazzaville"),
    "Holy See (Vatican City)": ("Vatican", "Vatican City State"),
    "Timor-Leste": ("East Timor",),
    "Eswatini": ("Swaziland",),
    "Cabo Verde": ("Cape Verde",),
    "North Macedonia": ("Macedonia",),
    "The Dominican": ("Dominican Republic",),
    "Netherlands": ("Holland",),
    "Federated States of Micronesia": ("Micronesia",),
    "Vietnam": ("Viet Nam",),
    "South Korea": ("Korea, South",),
    "North Korea": ("Korea, North",),
    "Laos": ("Lao PDR",),
    "Brunei": ("Brunei Darussalam",),
    "Syria": ("Syrian Arab Republic",),
}
"""Common English names the Factbook's "Country name" section does not give (title -> extra names)."""
_NOT_ENTITIES = frozenset({"World"})
_MAX_NAME_WORDS = 10


@lru_cache(maxsize=65536)
def entity_key(name: str) -> str:
    """The comparison key of a name: ``normalize`` (which joins "U.S.A." into "usa") with "St." read as "Saint"."""
    return " ".join("saint" if w in ("st", "ste") else w for w in normalize(name).split())


def _variants(field: str, value: str) -> list[str]:
    """Names in one field value: notes cut off, language tags dropped, "US or USA" and "X (or Y)" split."""
    value = re.split(r";|\bnote\b\s*-", value)[0].strip()
    if not value or value.casefold() == "none":
        return []
    pieces = re.split(r"(?<=\))\s*/\s*", value)  # "… (Spanish)/ … (French)"
    if field == "former":
        pieces = [p for piece in pieces for p in piece.split(", ")]
    names = []
    for piece in pieces:
        names += re.findall(r"\(\s*or\s+([^)]+)\)", piece)
        piece = re.sub(r"\([^)]*\)", "", piece).replace("/", " ").strip()
        names += re.split(r"\s+or\s+", piece) if field == "abbreviation" else [piece]
    return [re.sub(r"\s+", " ", n).strip() for n in names if n.strip() and len(n.split()) <= _MAX_NAME_WORDS]


def _title_variants(title: str) -> list[str]:
    """A document title and its parts: "Holy See (Vatican City)" -> also "Holy See" and "Vatican City"."""
    names = [title]
    outer = re.sub(r"\s*\([^)]*\)", "", title).strip()
    names.append(outer)
    names += [inner for inner in re.findall(r"\(([^)]*)\)", title) if 2 <= len(inner.split()) <= 4]
    if "," in outer:
        names += [part.strip() for part in re.split(r",\s*(?:and\s+)?", outer) if part.strip()]
    return names


def _country_names(text: str) -> list[tuple[str, str]]:
    """(field, value) lines of a document's "### Country name" section."""
    start = text.find("\n### Country name\n")
    if start < 0:
        return []
    end = text.find("\n#", start + 2)
    section = text[start : end if end > 0 else len(text)]
    pairs = re.findall(r"^- ([a-z ]+): (.+)$", section, re.MULTILINE)
    return [(field, value) for field, value in pairs if field in _FIELDS]


@dataclass(frozen=True)
class Gazetteer:
    """Every entity (by its Factbook title) with all its names, and the unambiguous name -> entity index."""

    names: dict[str, frozenset[str]]
    index: dict[str, str]
    priority: dict[str, int]
    longest: int = 1
    capitals: frozenset[str] = frozenset()
    """One-word names written only in capitals ("US", "AS", "CAR"): in running text they count only when written
    so ("Canada as well" names no American Samoa, "with us" no United States)."""

    def entity(self, name: str) -> str | None:
        return self.index.get(entity_key(name))


@cache
def load(docs_dir: Path = DOCS_DIR) -> Gazetteer:
    """Read the corpus documents once; ``docs_dir`` for another corpus with the same layout."""
    names: dict[str, set[str]] = {}
    claims: dict[str, dict[str, int]] = {}  # key -> entity -> best priority

    def add(entity: str, name: str, priority: int) -> None:
        key = entity_key(name)
        if not key:
            return
        names.setdefault(entity, set()).add(name)
        best = claims.setdefault(key, {})
        best[entity] = min(priority, best.get(entity, priority))

    for path in sorted(Path(docs_dir).glob("*.md")):
        text = path.read_text(encoding="utf-8")
        title = text.split("\n", 1)[0].removeprefix("# ").strip()
        if not title or title in _NOT_ENTITIES:
            continue
        for name in _title_variants(title):
            add(title, name, _TITLE)
        for field, value in _country_names(text):
            for name in _variants(field, value):
                add(title, name, _FIELDS[field])
        for name in _EXTRA.get(title, ()):
            add(title, name, _EXTRA_PRIORITY)
    index, priority = {}, {}
    for key, entities in claims.items():
        best = min(entities.values())
        winners = [e for e, p in entities.items() if p == best]
        if len(winners) == 1:
            index[key], priority[key] = winners[0], best
    longest = max((len(key.split()) for key in index), default=1)
    spellings: dict[str, set[bool]] = {}
    for name in (n for group in names.values() for n in group):
        if len(key := entity_key(name).split()) == 1:
            spellings.setdefault(key[0], set()).add(_in_capitals(name))
    capitals = frozenset(key for key, written in spellings.items() if written == {True})
    return Gazetteer({e: frozenset(n) for e, n in names.items()}, index, priority, longest, capitals)


def _in_capitals(token: str) -> bool:
    letters = re.sub(r"[^\w]|['\u2019]s\b", "", token)
    return letters.isupper()


@lru_cache(maxsize=65536)
def canonical(name: str) -> str | None:
    """The entity ``name`` denotes (its Factbook title), or ``None`` if unknown or ambiguous."""
    return load().entity(name)


@lru_cache(maxsize=65536)
def aliases(name: str) -> frozenset[str]:
    """The names that count as ``name`` when it is a gold answer, including ``name`` itself.

    A name that denotes its entity as such (the title, conventional short form, an abbreviation or a common
    English name: "United States", "USA") accepts every unambiguous name of that entity. A specific form of the
    name (a long, local or former form: "Republic of Austria") accepts only its own spellings, because a question
    whose gold is the long form asks for that form, and "Austria" does not give it. Unknown names: ``{name}``.
    """
    gazetteer, key = load(), entity_key(name)
    entity = gazetteer.index.get(key)
    if entity is None:
        return frozenset({name})
    if gazetteer.priority[key] in _OWN_NAMES:
        return frozenset({name, *(n for n in gazetteer.names[entity] if gazetteer.entity(n) == entity)})
    return frozenset({name, *(n for n in gazetteer.names[entity] if entity_key(n) == key)})


def same_entity(a: str, b: str) -> bool:
    """Whether two names denote the same entity: the same key, or names of one Factbook entity (in any form:
    list items are entities, so "Czech Republic" and "Czechia" are the same item)."""
    key_a, key_b = entity_key(a), entity_key(b)
    if not key_a or not key_b:
        return False
    if key_a == key_b:
        return True
    entity = canonical(a)
    return entity is not None and entity == canonical(b)


@cache
def gazetteer() -> frozenset[str]:
    """All known entity names and aliases (surface forms): for splitting lists and aligning entities 1:1."""
    return frozenset(name for names in load().names.values() for name in names)


_POSSESSIVE = re.compile(r"['\u2019]s\b")


def entity_spans(text: str) -> list[tuple[int, str]]:
    """(character offset, entity) of every entity ``text`` names, longest name first and non-overlapping, in order
    ("Equatorial Guinea" is one mention of Equatorial Guinea, not also one of Guinea). Ambiguous names count as no
    entity. Offsets let a caller bind a figure to the country named next to it ("Germany: 84 million")."""
    gazetteer = load()
    words = [(word, token.start(), _in_capitals(token.group())) for token in re.finditer(r"\S+", text or "")
             for word in entity_key(_POSSESSIVE.sub("", token.group())).split()]
    found, i = [], 0
    while i < len(words):
        for size in range(min(gazetteer.longest, len(words) - i), 0, -1):
            key = " ".join(w for w, *_ in words[i : i + size])
            entity = gazetteer.index.get(key)
            if entity and (key not in gazetteer.capitals or words[i][2]):
                found.append((words[i][1], entity))
                i += size
                break
        else:
            i += 1
    return found


def entity_mentions(text: str) -> list[str]:
    """The entities ``text`` names, in order (``entity_spans`` without the offsets)."""
    return [entity for _, entity in entity_spans(text)]
