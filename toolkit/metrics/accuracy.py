"""Accuracy scorers: plain callables ``metric(question, answer) -> float | None`` over EXTRACTED answers.

A reply is first reduced by ``toolkit.extraction`` to what it claims (the one answer, the one number, the list
items, or an abstention); only that is compared with the gold answers and their aliases
(``toolkit.extraction.entities``). So "The USA." is correct for "United States", but a hedge ("Sydney or Canberra"),
a range ("between 100,000 and 400,000") or a part of a name ("Republic" for "Czech Republic") never is.

``None`` means "does not apply to this question kind", so an arm's mean is taken over the questions a metric is
meant for (numeric match over numeric questions, list F1 over list questions, abstention over unanswerable ones).
"""

import re
from collections import Counter

import numpy as np
from scipy.optimize import linear_sum_assignment

from toolkit.extraction import (
    Quantity,
    answer_span,
    asserts_nothing,
    claimed_answer,
    extract_number,
    extract_range,
    list_items,
    normalize,
    numbers_close,
    units_compatible,
)
from toolkit.extraction.entities import aliases, canonical, entity_key, entity_mentions, same_entity
from toolkit.records import Answer, Question

ANSWERED_KINDS = ("short", "multihop", "long")


def tokens(text: str) -> list[str]:
    return normalize(text).split()


def names_gold(claim: str, gold: str) -> bool:
    """Whether a claimed answer names ``gold`` (or one of its ``aliases``).

    A gold that is an entity's own name (a country) is named when the claim names exactly that one entity: "The
    USA" names "United States", "Equatorial Guinea" does not name "Guinea", "France or Japan" names neither. Any
    other gold ("Paris", "euro", a long-form name) is named when one of its aliases occurs in the claim on word
    boundaries ("Paris, France").
    """
    if not claim:
        return False
    names = aliases(gold)
    entity = canonical(gold)
    if entity is not None and entity in names:
        return set(entity_mentions(claim)) == {entity}
    claim_key = f" {entity_key(claim)} "
    return any(f" {key} " in claim_key for key in {entity_key(name) for name in names} if key)


def _applies(question: Question) -> bool:
    return question.kind in ANSWERED_KINDS and bool(question.answers)


def _is_a_gold(text: str, question: Question) -> bool:
    """The whole reply is a gold answer or alias, verbatim up to normalisation (a gold may itself hold a clause
    separator, "X (prior to 2021); name disputed", which extraction would cut)."""
    key = entity_key(text)
    return bool(key) and any(key == entity_key(name) for gold in question.answers for name in aliases(gold))


def exact_match(question: Question, answer: Answer) -> float | None:
    """The claimed answer IS a gold answer or alias (after normalisation): "The capital is Paris." -> "Paris"."""
    if not _applies(question):
        return None
    return float(_is_a_gold(answer.text, question) or _is_a_gold(answer_span(answer.text, question.question), question))


def contains_match(question: Question, answer: Answer) -> float | None:
    """The claimed answer names a gold answer or alias (``names_gold``): the accuracy of short answers."""
    if not _applies(question):
        return None
    if _is_a_gold(answer.text, question) or _is_a_gold(answer_span(answer.text, question.question), question):
        return 1.0  # verbatim a gold, even one that reads "X or Y"
    claim = _NAME_THEN_CODE.sub(r"\g<name>", claimed_answer(answer.text, question.question))
    return float(any(names_gold(claim, gold) for gold in _golds_in_context(question, claim)))


_NAME_THEN_CODE = re.compile(r"^(?P<name>.*[A-Za-z].*?)\s*\([A-Z]{3}\)\W*$")
"""A name followed by a currency code ("Kenyan shillings (KES)"): the name decides, so "French Franc (EUR)" is
not the euro (readers' rule; a code alone, "EUR", still names it)."""


def _golds_in_context(question: Question, claim: str = "") -> tuple[str, ...]:
    """The gold answers, plus each one without the adjective of the country the question names ("Indian rupees"
    -> "rupees" for "What is the currency of India?": in context, "Rupees." is an obvious variant), unless the
    ``claim`` qualifies that noun with another name ("The Pakistani rupee", "The British Pound" for Egypt), and a
    feature's name without its generic word (``_FEATURE_WORD``)."""
    from toolkit.extraction.clauses import question_entities

    stems = {normalize(name)[:4] for name in question_entities(question.question)}
    bare = [gold.split(maxsplit=1)[1] for gold in question.answers
            if len(gold.split()) > 1 and normalize(gold.split()[0])[:4] in stems]
    features = [m.group("name") for gold in question.answers if (m := _FEATURE_WORD.match(gold))]
    return (*question.answers, *(noun for noun in bare if not _qualified_by_other(claim, noun, stems)), *features)


_FEATURE_WORD = re.compile(r"^(?:volcan|volcano|nevado|mount|mt\.?|monte|mont|cerro|pico)\s+(?P<name>\S.{3,})$",
                           re.IGNORECASE)
"""A gold feature name with its generic word first ("Volcan Pico de Orizaba", "Nevado Huascaran"): the name
without it ("Pico de Orizaba", "Huascaran") is the obvious variant a reader accepts."""


_QUALIFIER = re.compile(r"\b(?P<word>[A-Z][\w'-]*)\s+(?=(?P<noun>[\w'-]+))")
_PLAIN_QUALIFIERS = frozenset({"the", "a", "an", "its", "their", "official", "national", "local", "new", "current"})


def _qualified_by_other(claim: str, noun: str, stems: set[str]) -> bool:
    """The claim names ``noun`` after a capitalised word that is not the asked country's ("British Pound")."""
    forms = {normalize(name) for name in aliases(noun)} | {normalize(noun)}
    return any(normalize(m.group("noun")) in forms and normalize(m.group("word")) not in _PLAIN_QUALIFIERS
               and normalize(m.group("word"))[:4] not in stems for m in _QUALIFIER.finditer(claim))


def token_f1(question: Question, answer: Answer) -> float | None:
    """SQuAD token F1 between the claimed answer and the best gold answer or alias (0 for no claim)."""
    if not _applies(question):
        return None
    predicted = tokens(claimed_answer(answer.text, question.question))
    best = 0.0
    for gold in {name for g in question.answers for name in aliases(g)}:
        gold_tokens = tokens(gold)
        common = sum((Counter(predicted) & Counter(gold_tokens)).values())
        if common:
            precision, recall = common / len(predicted), common / len(gold_tokens)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def quantity_matches(claimed: Quantity | None, gold: Quantity | None, tolerance: float) -> bool:
    """The claimed number equals the gold number within ``tolerance``, in compatible units (converted); an answer
    may leave the unit out, but may not give a count (a unitless gold) a unit of area, length, percent or money."""
    if claimed is None or gold is None or not units_compatible(claimed.unit, gold.unit):
        return False
    if not gold.unit and claimed.dimension != "count":
        return False  # a unitless gold is a count: "52,933 sq mi" does not state a population of 52,933
    if claimed.unit and gold.unit:
        return numbers_close(claimed.in_base_unit(), gold.in_base_unit(), tolerance)
    return numbers_close(claimed.value, gold.value, tolerance)


def numeric_match(question: Question, answer: Answer) -> float | None:
    """The ONE number the answer claims lies within the question's relative tolerance of a gold number (a range:
    both its ends do)."""
    if question.kind != "numeric" or not question.answers:
        return None
    claimed = extract_number(answer.text, question.question)
    tolerance = question.tolerance or 0.0
    if claimed is None and (ends := extract_range(answer.text)):  # a range is right only if both ends are
        return float(any(all(quantity_matches(end, extract_number(gold), tolerance) for end in ends)
                         for gold in question.answers))
    return float(any(quantity_matches(claimed, extract_number(gold), tolerance) for gold in question.answers))


def align(items: list[str], golds: tuple[str, ...] | list[str]) -> int:
    """How many listed items match a gold entity one-to-one (each gold and each item used at most once)."""
    if not items or not golds:
        return 0
    matches = np.array([[same_entity(item, gold) for gold in golds] for item in items], dtype=float)
    rows, cols = linear_sum_assignment(matches, maximize=True)
    return int(matches[rows, cols].sum())


def _list_counts(question: Question, answer: Answer) -> tuple[int, int] | None:
    """(listed entities, listed entities aligned 1:1 with a gold entity) for a list question."""
    if question.kind != "list" or not question.answers:
        return None
    items = list_items(answer.text)
    return len(items), align(items, question.answers)


def list_precision(question: Question, answer: Answer) -> float | None:
    """CoVe's list metric: the share of listed entities aligned with a gold entity (0 for an empty list)."""
    counts = _list_counts(question, answer)
    if counts is None:
        return None
    listed, correct = counts
    return correct / listed if listed else 0.0


def list_recall(question: Question, answer: Answer) -> float | None:
    """The share of gold entities aligned with a listed entity."""
    counts = _list_counts(question, answer)
    return None if counts is None else counts[1] / len(question.answers)


def list_f1(question: Question, answer: Answer) -> float | None:
    precision, recall = list_precision(question, answer), list_recall(question, answer)
    if precision is None or recall is None:
        return None
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def abstention(question: Question, answer: Answer) -> float | None:
    """On unanswerable questions, 1 when the reply as a whole abstains (the right behaviour), else 0. A reply that
    only restates the question ("The head coach of Japan's team is the head coach of Japan's team") commits to no
    answer either: a reader counts it as abstaining (``asserts_nothing``)."""
    if question.kind != "unanswerable":
        return None
    return float(asserts_nothing(answer.text, question.question))


def accuracy(question: Question, answer: Answer) -> float | None:
    """One binary "correct" per question, whatever its kind, for cost per correct answer and McNemar tests.

    short/multihop/long: the claimed answer names a gold answer or alias (``contains_match``); numeric:
    ``numeric_match``; list: every gold entity listed and nothing else (aliases of one entity are one item), as a
    reader grades it (``rag_corpus/real_answers/GUIDELINES.md``; precision and recall keep the partial credit);
    unanswerable: the reply abstains.
    """
    if question.kind == "numeric":
        return numeric_match(question, answer)
    if question.kind == "list":
        counts = _list_counts(question, answer)
        return None if counts is None else float(counts[0] == counts[1] == len(question.answers))
    if question.kind == "unanswerable":
        return abstention(question, answer)
    return contains_match(question, answer)
