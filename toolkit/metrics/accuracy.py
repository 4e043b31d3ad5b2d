"""Accuracy metrics: plain callables ``metric(question, answer) -> float | None``.

``None`` means "does not apply to this question kind", so an arm's mean is taken over the questions a metric
is meant for (numeric match over numeric questions, list F1 over list questions, abstention over unanswerable
ones). Text is normalised the SQuAD way (lower case, no punctuation or articles) before any comparison.
"""

import re
import string
from collections import Counter

from toolkit.methods.parsing import is_abstention
from toolkit.records import Answer, Question

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans({c: " " for c in string.punctuation})
_SCALES = {"thousand": 1e3, "million": 1e6, "mln": 1e6, "billion": 1e9, "bn": 1e9, "trillion": 1e12}
_NUMBER = re.compile(
    r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?:\s*(thousand|million|mln|billion|bn|trillion)\b)?", re.I
)
ANSWERED_KINDS = ("short", "multihop", "long")


def normalize(text: str) -> str:
    text = text.lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def tokens(text: str) -> list[str]:
    return normalize(text).split()


def parse_numbers(text: str) -> list[float]:
    """Every number in ``text``, with thousands separators and scale words ("1.2 million") applied."""
    values = []
    for match in _NUMBER.finditer(text):
        raw = match.group(0)
        scale = match.group(1)
        digits = raw[: match.start(1) - match.start(0)] if scale else raw
        try:
            value = float(digits.replace(",", "").strip())
        except ValueError:
            continue
        values.append(value * (_SCALES[scale.lower()] if scale else 1.0))
    return values


def numbers_close(a: float, b: float, tolerance: float) -> bool:
    return abs(a - b) <= max(tolerance * abs(b), 1e-9)


def contains_phrase(haystack: str, needle: str) -> bool:
    """Whether the normalised ``needle`` occurs in the normalised ``haystack`` on token boundaries."""
    needle = normalize(needle)
    return bool(needle) and f" {needle} " in f" {normalize(haystack)} "


def split_list(text: str, gold: tuple[str, ...] = ()) -> list[str]:
    """The entities of a list answer, by the methods' parser (bullets, numbering, commas, "and"; gold names kept whole)."""
    from toolkit.methods.parsing import parse_list

    return [item for item in parse_list(text, keep=gold) if normalize(item)]


def entity_matches(item: str, gold: str) -> bool:
    """A listed entity names a gold entity if either contains the other ("Germany" vs "Federal Republic of Germany")."""
    return contains_phrase(item, gold) or contains_phrase(gold, item)


def exact_match(question: Question, answer: Answer) -> float | None:
    if question.kind not in ANSWERED_KINDS or not question.answers:
        return None
    return float(any(normalize(answer.text) == normalize(gold) for gold in question.answers))


def contains_match(question: Question, answer: Answer) -> float | None:
    """A gold alias appears in the answer: the usual accuracy for chatty models ("The capital is Paris.")."""
    if question.kind not in ANSWERED_KINDS or not question.answers:
        return None
    return float(any(contains_phrase(answer.text, gold) for gold in question.answers))


def token_f1(question: Question, answer: Answer) -> float | None:
    if question.kind not in ANSWERED_KINDS or not question.answers:
        return None
    predicted = tokens(answer.text)
    best = 0.0
    for gold in question.answers:
        gold_tokens = tokens(gold)
        common = sum((Counter(predicted) & Counter(gold_tokens)).values())
        if common:
            precision, recall = common / len(predicted), common / len(gold_tokens)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def numeric_match(question: Question, answer: Answer) -> float | None:
    """Any number in the answer lies within the question's relative tolerance of the gold number (exact if none)."""
    if question.kind != "numeric" or not question.answers:
        return None
    golds = [n for gold in question.answers for n in parse_numbers(gold)[:1]]
    tolerance = question.tolerance or 0.0
    return float(
        any(numbers_close(value, gold, tolerance) for value in parse_numbers(answer.text) for gold in golds)
    )


def _list_counts(question: Question, answer: Answer) -> tuple[int, int, int] | None:
    """(listed entities, listed entities that are gold, gold entities covered) for a list question."""
    if question.kind != "list" or not question.answers:
        return None
    items = [] if is_abstention(answer.text) else split_list(answer.text, question.answers)
    correct = sum(any(entity_matches(item, gold) for gold in question.answers) for item in items)
    covered = sum(any(entity_matches(item, gold) for item in items) for gold in question.answers)
    return len(items), correct, covered


def list_precision(question: Question, answer: Answer) -> float | None:
    """CoVe's list metric: the share of listed entities that are in the gold list (0 for an empty list)."""
    counts = _list_counts(question, answer)
    if counts is None:
        return None
    listed, correct, _ = counts
    return correct / listed if listed else 0.0


def list_recall(question: Question, answer: Answer) -> float | None:
    counts = _list_counts(question, answer)
    return None if counts is None else counts[2] / len(question.answers)


def list_f1(question: Question, answer: Answer) -> float | None:
    precision, recall = list_precision(question, answer), list_recall(question, answer)
    if precision is None or recall is None:
        return None
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def abstention(question: Question, answer: Answer) -> float | None:
    """On unanswerable questions, 1 when the answer abstains (the right behaviour), else 0."""
    if question.kind != "unanswerable":
        return None
    return float(is_abstention(answer.text))


LIST_CORRECT_F1 = 0.5


def accuracy(question: Question, answer: Answer) -> float | None:
    """One binary "correct" per question, whatever its kind, for cost per correct answer and McNemar tests.

    short/multihop/long: a gold alias is contained in the answer; numeric: numeric_match; list: list F1 at least
    0.5; unanswerable: the answer abstains.
    """
    if question.kind == "numeric":
        return numeric_match(question, answer)
    if question.kind == "list":
        f1 = list_f1(question, answer)
        return None if f1 is None else float(f1 >= LIST_CORRECT_F1)
    if question.kind == "unanswerable":
        return abstention(question, answer)
    return contains_match(question, answer)
