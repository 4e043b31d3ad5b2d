"""The gold side the judge compares with: gold answers widened by their Factbook aliases, and list items.

Thin adapters over ``toolkit.datasets.aliases`` and ``toolkit.extraction`` (owned by answer extraction) so the
judge and the scorers agree on what names the same entity and where a list splits. Until those modules are on
main, ``_country_aliases`` reads the same Factbook "Country name" fields (long, short, local forms, abbreviation).
"""

import re
from functools import cache


@cache
def _country_aliases() -> dict[str, frozenset[str]]:
    """name (case-folded) -> every name of the same country, from the corpus documents' "Country name" field."""
    import rag_corpus

    table: dict[str, frozenset[str]] = {}
    for doc in sorted((rag_corpus.ROOT / "docs").glob("*.md")):
        text = doc.read_text(encoding="utf-8")
        block = re.search(r"### Country name\n\n(.*?)(?:\n\n###|\Z)", text, re.S)
        names = {text.splitlines()[0].lstrip("# ").strip()}
        for key, value in re.findall(r"^- ([a-z ]+): (.+)$", block.group(1) if block else "", re.M):
            if key in ("conventional long form", "conventional short form", "local short form", "abbreviation"):
                names |= {v.strip() for v in re.split(r"\s+or\s+|;", value) if v.strip().lower() != "none"}
        names = frozenset(n for n in names if n and len(n) < 60)
        for name in names:
            table[name.casefold()] = table.get(name.casefold(), frozenset()) | names
    return table


def expand(gold: tuple[str, ...]) -> list[str]:
    """Each gold answer followed by its aliases ("United States" -> "USA", "US", ...), without duplicates."""
    try:
        from toolkit.datasets.aliases import aliases
    except ImportError:  # answer extraction not on main yet: the same Factbook fields, read here

        def aliases(name: str) -> frozenset[str]:
            return _country_aliases().get(name.casefold(), frozenset())

    return list(dict.fromkeys(name for g in gold for name in (g, *sorted(aliases(g)))))


def list_items(answer: str, gold: tuple[str, ...]) -> list[str]:
    """The entities a list answer names (compound names such as "Bosnia and Herzegovina" kept whole)."""
    try:
        from toolkit.datasets.aliases import entity_mentions, gazetteer
        from toolkit.extraction import list_items as extract
    except ImportError:
        from toolkit.methods.parsing import parse_list

        return parse_list(answer, keep=gold)
    items = extract(answer, gazetteer())
    # a judge must not lose a named country the list parser dropped ("Venezuela... the rest is unknown")
    listed = {" ".join(i.casefold().split()) for i in items}
    return items + [m for m in entity_mentions(answer) if " ".join(m.casefold().split()) not in listed]
