"""The gold side the judge compares with: gold answers widened by their Factbook aliases, and list items.

Thin adapters over ``toolkit.datasets.aliases`` and ``toolkit.extraction`` (owned by answer extraction) so the
judge and the scorers agree on what names the same entity and where a list splits.
"""


def expand(gold: tuple[str, ...]) -> list[str]:
    """Each gold answer followed by its aliases ("United States" -> "USA", "US", ...), without duplicates."""
    try:
        from toolkit.datasets.aliases import aliases
    except ImportError:  # answer extraction not landed yet
        return list(dict.fromkeys(gold))
    return list(dict.fromkeys(name for g in gold for name in (g, *aliases(g))))


def list_items(answer: str, gold: tuple[str, ...]) -> list[str]:
    """The entities a list answer names (compound names such as "Bosnia and Herzegovina" kept whole)."""
    try:
        from toolkit.extraction import list_items as extract
        from toolkit.datasets.aliases import gazetteer
    except ImportError:
        from toolkit.methods.parsing import parse_list

        return parse_list(answer, keep=gold)
    return extract(answer, gazetteer())
