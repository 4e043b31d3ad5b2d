"""Metrics: plain callables ``metric(question, answer) -> float | None``, each registered ONCE with its metadata.

``None`` means the metric does not apply to that question (e.g. list F1 on a numeric question). A registration
says whether the metric is binary (paired tests use McNemar) or continuous (paired permutation/bootstrap), which way
is better, whether it is a headline (shown in the CLI summary, the markdown report and the panels), which question
kinds it applies to and whether a spec measures it by default. Every surface reads this one list through
``metric_info``, ``headline_metrics``, ``binary_metrics``, ``paired_metrics`` and ``retrieval_metrics``.

A registration also says how an arm aggregates the metric (``aggregation``): ``mean`` of the per-question values with
its interval (Wilson for 0/1, BCa otherwise), or ``pooled`` (a ratio of sums over the arm, e.g. entity
hallucination). Retrieval-quality metrics (``stage="retrieval"``) describe what the retriever handed a RAG method,
not the answer: every retrieving arm reports them overall and per question kind, and paired tests leave them out.

Adding a metric is one function plus one ``METRICS.register`` line. Scorers compare extracted answers
(``toolkit.extraction``) with gold answers and their aliases; the hallucination definition lives in
``toolkit/judges/``; confidence intervals and paired tests in ``stats.py``.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

from toolkit.records import Answer, Question, QuestionKind
from toolkit.registry import Registry, UnknownNameError, did_you_mean

ALL_KINDS: tuple[QuestionKind, ...] = get_args(QuestionKind)
ANSWERED: tuple[QuestionKind, ...] = ("short", "multihop", "long")


@dataclass(frozen=True)
class MetricInfo:
    """What every surface needs to know about a metric, besides how to compute it."""

    name: str
    binary: bool
    higher_is_better: bool
    headline: bool = False
    kinds: tuple[QuestionKind, ...] = ALL_KINDS
    default: bool = False
    selectable: bool = True
    summary: str = ""
    per_question: bool = True
    description: str = ""
    aggregation: Literal["mean", "pooled"] = "mean"
    stage: Literal["answer", "retrieval"] = "answer"

    @property
    def summary_name(self) -> str:
        """The name of the arm-level estimate (``hallucination`` is summarised as ``hallucination_rate``)."""
        return self.summary or self.name


class MetricRegistry(Registry):
    """A ``Registry`` of metric callables plus their ``MetricInfo``; also holds arm-level aggregates that have
    no per-question callable (``register_aggregate``), which specs cannot select but summaries show."""

    def __init__(self) -> None:
        super().__init__("metric")
        self._info: dict[str, MetricInfo] = {}

    def register(self, name: str, target, *, binary: bool, higher_is_better: bool, **meta) -> None:  # type: ignore[override]
        if target is not None:
            super().register(name, target)
        elif name in self._info:
            raise ValueError(f"metric {name!r} is registered twice")
        self._info[name] = MetricInfo(name, binary, higher_is_better, per_question=target is not None, **meta)

    def register_aggregate(self, name: str, *, higher_is_better: bool, **meta) -> None:
        """An arm-level figure computed by the experiment summary from stored judge verdicts."""
        self.register(name, None, binary=False, higher_is_better=higher_is_better, selectable=False, **meta)

    def info(self, name: str) -> MetricInfo:
        """A metric's metadata, by its registered name or its summary name ("hallucination_rate")."""
        if name in self._info:
            return self._info[name]
        for info in self._info.values():
            if info.summary_name == name:
                return info
        known = sorted({*self._info, *(i.summary_name for i in self._info.values())})
        raise UnknownNameError(f"unknown metric {name!r}.{did_you_mean(name, known)} Known metrics: {', '.join(known)}.")

    def infos(self) -> tuple[MetricInfo, ...]:
        """Every registration, in registration order (the order summaries show them in)."""
        return tuple(self._info.values())


METRICS = MetricRegistry()
_ACC = "toolkit.metrics.accuracy"
METRICS.register(
    "accuracy", f"{_ACC}:accuracy", binary=True, higher_is_better=True, headline=True, default=True,
    description="Correct per question, whatever its kind (the basis of cost per correct answer).",
)
METRICS.register(
    "hallucination", "toolkit.judges.answers:hallucination", binary=True, higher_is_better=False,
    headline=True, selectable=False, summary="hallucination_rate",
    description="The judge says the answer asserts something neither gold nor the shown context supports.",
)
METRICS.register_aggregate(
    "entity_hallucination_rate", higher_is_better=False, headline=True, kinds=("list",), aggregation="pooled",
    description="Unsupported listed entities / listed entities, pooled over an arm's list questions.",
)
METRICS.register(
    "exact_match", f"{_ACC}:exact_match", binary=True, higher_is_better=True, kinds=ANSWERED, default=True,
    description="The claimed answer is a gold answer or alias.",
)
METRICS.register(
    "token_f1", f"{_ACC}:token_f1", binary=False, higher_is_better=True, kinds=ANSWERED, default=True,
    description="SQuAD token F1 of the claimed answer against the best gold answer or alias.",
)
METRICS.register(
    "numeric_match", f"{_ACC}:numeric_match", binary=True, higher_is_better=True, kinds=("numeric",),
    default=True, description="The one claimed number is within tolerance of the gold number.",
)
METRICS.register(
    "list_precision", f"{_ACC}:list_precision", binary=False, higher_is_better=True, headline=True,
    kinds=("list",), default=True, description="Share of listed entities aligned 1:1 with a gold entity.",
)
METRICS.register(
    "list_recall", f"{_ACC}:list_recall", binary=False, higher_is_better=True, kinds=("list",), default=True,
    description="Share of gold entities aligned 1:1 with a listed entity.",
)
METRICS.register(
    "list_f1", f"{_ACC}:list_f1", binary=False, higher_is_better=True, kinds=("list",), default=True,
    description="Harmonic mean of list precision and recall.",
)
METRICS.register(
    "abstention", f"{_ACC}:abstention", binary=True, higher_is_better=True, headline=True,
    kinds=("unanswerable",), default=True, description="The reply abstains on an unanswerable question.",
)
METRICS.register(
    "groundedness", "toolkit.judges.answers:groundedness", binary=False, higher_is_better=True,
    headline=True, selectable=False, description="Share of a RAG answer's sentences the shown context supports.",
)
METRICS.register(
    "contains_match", f"{_ACC}:contains_match", binary=True, higher_is_better=True, kinds=ANSWERED,
    description="The claimed answer names a gold answer or alias (short-answer accuracy).",
)
METRICS.register(
    "llm_hallucination", None, binary=True, higher_is_better=False, selectable=False,
    summary="llm_hallucination_rate", description="The LLM judge's hallucination verdict (when one is configured).",
)

_RET = "toolkit.metrics.retrieval"
_GOLD_KINDS: tuple[QuestionKind, ...] = ("short", "numeric", "list", "multihop", "long")
METRICS.register(
    "recall_at_k", f"{_RET}:recall_at_k", binary=False, higher_is_better=True, kinds=_GOLD_KINDS,
    selectable=False, stage="retrieval",
    description="Share of the question's gold documents among the k chunks retrieved for it.",
)
METRICS.register(
    "mrr", f"{_RET}:mrr", binary=False, higher_is_better=True, kinds=_GOLD_KINDS, selectable=False,
    stage="retrieval", description="1 / rank of the first retrieved chunk from a gold document (0 if none).",
)
METRICS.register(
    "gold_chunk_share", f"{_RET}:gold_chunk_share", binary=False, higher_is_better=True, kinds=_GOLD_KINDS,
    selectable=False, stage="retrieval",
    description="Share of the chunks shown to the model that come from a gold document.",
)
METRICS.register(
    "looked_relevant", f"{_RET}:looked_relevant", binary=True, higher_is_better=False, kinds=("unanswerable",),
    selectable=False, stage="retrieval",
    description="Unanswerable question whose best retrieved chunk scored at least the relevance threshold "
    "calibrated on answerable questions (retrieval offered something that looked like an answer).",
)

DEFAULT_METRICS: tuple[str, ...] = tuple(i.name for i in METRICS.infos() if i.default)
"""What a spec measures when it names no metrics (hallucination and cost are always reported)."""


def metric_info(name: str) -> MetricInfo:
    """Metadata of a metric by registered or summary name; unknown names raise with a did-you-mean."""
    return METRICS.info(name)


def headline_metrics() -> tuple[str, ...]:
    """The arm-level names every summary shows, in order: CLI, markdown report, results and compare panels."""
    return tuple(i.summary_name for i in METRICS.infos() if i.headline)


def binary_metrics() -> frozenset[str]:
    """Per-question metrics whose values are 0/1 (paired tests use exact McNemar for them)."""
    return frozenset(i.name for i in METRICS.infos() if i.binary)


def paired_metrics() -> tuple[str, ...]:
    """Per-question metrics two arms can be compared on, question by question."""
    return tuple(i.name for i in METRICS.infos() if (i.per_question or i.summary) and i.stage == "answer")


def retrieval_metrics() -> tuple[str, ...]:
    """Retrieval-quality metrics every retrieving arm reports (overall and per question kind)."""
    return tuple(i.name for i in METRICS.infos() if i.stage == "retrieval")


def get_metric(name: str):
    return METRICS.get(name)


def score(
    question: Question, answer: Answer, names: Iterable[str] = DEFAULT_METRICS
) -> dict[str, float | None]:
    """Every named metric on one answer."""
    return {name: METRICS.get(name)(question, answer) for name in names}
