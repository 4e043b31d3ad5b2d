"""Re-judge a finished run with another hallucination judge: zero model calls for the arms, only the judge's own.

Why: a hallucination rate is only as good as its judge. Seeing the rates move (or not) under another judge, and the
two judges' agreement (Cohen's κ), tells a reader how much of a difference between arms the judge could explain.
The stored answers are re-judged as they are (``judge_input``: gold, and the chunks the model was shown) through the
same stage runs use (``judge_all``); a reviewer's marks show the human agreement of each judge beside them.
The widget over this lives in ``toolkit.ui.rejudge``.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from toolkit.judges.answers import judge_all
from toolkit.judges.base import DEFAULT_JUDGE, JUDGES, LLM_PREFIX, Judge, Verdict, judge_input
from toolkit.judges.metaeval import human_agreement
from toolkit.metrics.stats import cohen_kappa


def judge_choices() -> list[str]:
    """Every judge by its one name: the default first, the other registered ones, an LLM judge per catalog model."""
    from toolkit.providers import load_catalog

    offline = [DEFAULT_JUDGE, *(n for n in JUDGES.names() if n not in (DEFAULT_JUDGE, "llm"))]
    return [*offline, *(f"{LLM_PREFIX}{entry_id}" for entry_id in load_catalog().ids())]


def _label(verdict: Verdict) -> float | None:
    return None if verdict.unknown else float(verdict.hallucinated)


@dataclass
class Rejudged:
    """Per-arm hallucination rates under the stored judge and the new one, their agreement, the judge's calls."""

    judge: str
    stored_judge: str
    rates: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # arm -> (stored Interval, new Interval)
    kappa: dict[str, float] = field(default_factory=dict)  # n, agreement, kappa (stored vs new, all answers)
    human: dict[str, dict[str, float]] = field(default_factory=dict)  # judge -> human agreement
    judge_calls: int = 0
    verdicts: dict[tuple[str, str], Verdict] = field(default_factory=dict)  # (arm, question id) -> new Verdict


def rejudge(result: Any, judge: Judge, name: str, marks: Mapping[str, bool] | None = None) -> Rejudged:
    """Judge every stored answer of ``result`` again with ``judge``; the arms' models are never called."""
    from toolkit.metrics.stats import mean_ci

    stored_name = next((next(iter(r.verdicts)) for r in result.records), "")
    out = Rejudged(judge=name, stored_judge=stored_name)
    for record in result.records:
        verdict = judge_all({name: judge}, judge_input(record.question, record.answer))[name]
        out.verdicts[(record.arm, record.question.id)] = verdict
        out.judge_calls += verdict.usage.calls
    for arm in result.arms:
        records = [r for r in result.records if r.arm == arm.arm]
        out.rates[arm.arm] = (
            mean_ci([_label(r.verdict) for r in records], binary=True),
            mean_ci([_label(out.verdicts[(arm.arm, r.question.id)]) for r in records], binary=True),
        )
    decided = [
        (r.verdict.hallucinated, out.verdicts[(r.arm, r.question.id)].hallucinated)
        for r in result.records
        if not r.verdict.unknown and not out.verdicts[(r.arm, r.question.id)].unknown
    ]
    out.kappa = cohen_kappa([a for a, _ in decided], [b for _, b in decided])
    if marks:
        for label, verdicts in (
            (out.stored_judge, {f"{r.arm}\n{r.question.id}": r.verdict for r in result.records}),
            (name, {f"{arm}\n{qid}": v for (arm, qid), v in out.verdicts.items()}),
        ):
            keyed = {key: marks[key.split("\n", 1)[1]] for key in verdicts if key.split("\n", 1)[1] in marks}
            out.human[label] = human_agreement(verdicts, keyed)
    return out
