"""The gold side the judge compares with: gold answers widened by their Factbook aliases, and list items.

Thin adapters over ``toolkit.extraction.entities`` and ``toolkit.extraction`` (answer extraction) so the judge and the
scorers agree on what names the same entity and where a list splits.
"""

from toolkit.extraction import list_items as extract_items
from toolkit.extraction.entities import aliases, entity_mentions, gazetteer


def expand(gold: tuple[str, ...]) -> list[str]:
    """Each gold answer followed by its aliases ("United States" -> "USA", "US", ...), without duplicates."""
    return list(dict.fromkeys(name for g in gold for name in (g, *sorted(aliases(g)))))


def list_items(answer: str, gold: tuple[str, ...]) -> list[str]:
    """The entities a list answer names, plus any country the list parser dropped ("Venezuela... the rest is unknown").

    A judge must not lose a named entity: an item the parser skips is an item nobody checks.
    """
    items = extract_items(answer, gazetteer())
    listed = {" ".join(i.casefold().split()) for i in items}
    return items + [m for m in entity_mentions(answer) if " ".join(m.casefold().split()) not in listed]
