"""Metrics: plain callables ``metric(question, answer) -> float | None`` in one registry.

``None`` means the metric does not apply to that question (e.g. list F1 on a numeric question). Adding a metric is
one function plus one ``METRICS.register`` line. The hallucination definition lives in ``toolkit/judges/``;
confidence intervals and paired tests in ``stats.py``.
"""

from collections.abc import Iterable

from toolkit.records import Answer, Question
from toolkit.registry import Registry

METRICS = Registry("metric")
DEFAULT_METRICS = (
    "accuracy",
    "exact_match",
    "token_f1",
    "numeric_match",
    "list_precision",
    "list_recall",
    "list_f1",
    "abstention",
)
"""What a spec measures when it names no metrics (hallucination and cost are always reported)."""

for _name in (*DEFAULT_METRICS, "contains_match"):
    METRICS.register(_name, f"toolkit.metrics.accuracy:{_name}")
METRICS.register("hallucination", "toolkit.judges.answers:hallucination")
METRICS.register("groundedness", "toolkit.judges.answers:groundedness")


def get_metric(name: str):
    return METRICS.get(name)


def score(
    question: Question, answer: Answer, names: Iterable[str] = DEFAULT_METRICS
) -> dict[str, float | None]:
    """Every named metric on one answer."""
    return {name: METRICS.get(name)(question, answer) for name in names}
