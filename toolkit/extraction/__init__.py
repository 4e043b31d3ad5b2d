"""Answer extraction: the step between a method's raw reply and the scorers (lm-evaluation-harness "filters").

A reply is free text ("Not Sydney or Canberra; it is Melbourne."). Before anything is scored it is reduced to what
it *claims*: whether it abstains at all (``is_abstention``), the one answer it commits to (``claimed_answer``), the
one number with unit and scale (``extract_number``), or its list of entities (``list_items``). Scorers compare
these extractions with gold answers (plus ``toolkit.extraction.entities``); judges read the raw text. Methods use the
same functions (CoVe splits its baseline list with ``list_items``), so a method and a metric never disagree about
what a reply said, and no metric imports a method's parser.

Every function is deterministic, never raises on junk, and refuses to guess: a hedge between candidates, a range
or two conflicting numbers extract to "nothing claimed" (``""`` / ``None``), so they can never score as correct.
"""

from toolkit.extraction.claims import answer_span, asserts_nothing, claimed_answer
from toolkit.extraction.lists import list_items
from toolkit.extraction.numbers import (
    Quantity,
    extract_number,
    extract_range,
    numbers_close,
    quantities,
    units_compatible,
)
from toolkit.extraction.text import fold, is_abstention, normalize, strip_citations

SCORERS_VERSION = "extraction-v5"
"""The version of these rules, recorded with the scorer card (``toolkit.metrics.card``): bump it when a change can
alter what a reply is read to claim, then re-measure the card (``tierlab metrics eval --record``)."""

__all__ = [
    "SCORERS_VERSION",
    "Quantity",
    "answer_span",
    "asserts_nothing",
    "claimed_answer",
    "extract_number",
    "extract_range",
    "fold",
    "is_abstention",
    "list_items",
    "normalize",
    "numbers_close",
    "quantities",
    "strip_citations",
    "units_compatible",
]
