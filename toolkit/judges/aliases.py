"""The gold side the judge compares with: gold answers widened by their Factbook aliases, and list items.

Thin adapters over ``toolkit.datasets.aliases`` and ``toolkit.extraction`` (answer extraction) so the judge and the
scorers agree on what names the same entity and where a list splits.
"""

from toolkit.datasets.aliases import aliases, entity_mentions, gazetteer
from toolkit.extraction import list_items as extract_items


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
