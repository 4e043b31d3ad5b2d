"""Re-judge a finished run with another hallucination judge: zero model calls for the arms, only the judge's own.

Why: a hallucination rate is only as good as its judge. Seeing the rates move (or not) under another judge, and the
two judges' agreement (Cohen's κ), tells a reader how much of a difference between arms the judge could explain.
The stored answers are re-judged as they are (``judge_input``: gold, and the chunks the model was shown); a
reviewer's marks from the review queue show the human agreement of each judge beside them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import ipywidgets as w

from toolkit.ui.html import esc, interval, table

FAST = "claims (no embeddings)"


def judge_choices() -> list[str]:
    """The offline judge with and without its embedding check, and an LLM judge per catalog model."""
    from toolkit.providers import load_catalog

    return ["claims", FAST, *(f"llm:{entry_id}" for entry_id in load_catalog().ids())]


def make_judge(choice: str, base_url: str | None = None):
    from toolkit.judges import get_judge

    if choice == FAST:
        return partial(get_judge("claims"), use_embeddings=False)
    if choice.startswith("llm:"):
        return get_judge("llm", model=choice.removeprefix("llm:"), base_url=base_url)
    return get_judge(choice)


def _label(verdict) -> float | None:
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
    verdicts: dict[tuple[str, str], Any] = field(default_factory=dict)  # (arm, question id) -> new Verdict


def rejudge(result: Any, judge, name: str, marks: Mapping[str, bool] | None = None) -> Rejudged:
    """Judge every stored answer of ``result`` again with ``judge``; the arms' models are never called."""
    from toolkit.judges import cohen_kappa, human_agreement, judge_input
    from toolkit.metrics.stats import mean_ci

    out = Rejudged(judge=name, stored_judge=next((r.verdict.judge for r in result.records), ""))
    for record in result.records:
        verdict = judge(judge_input(record.question, record.answer))
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


def _kappa_text(stats: Mapping[str, float]) -> str:
    n = int(stats.get("n", 0))
    if n == 0:
        return "no answers both judges decided"
    kappa = stats["kappa"]
    kappa_text = "undefined (one label only)" if kappa != kappa else f"{kappa:.2f}"
    return f"κ {kappa_text}, raw agreement {stats['agreement']:.0%} (n={n})"


class RejudgePanel:
    """Pick a judge, press Re-judge: per-arm rates side by side, κ between the judges, and human agreement."""

    def __init__(self, result: Any, marks: Mapping[str, bool] | None = None, base_url: str | None = None):
        self.result, self.marks, self.base_url = result, marks, base_url
        self.judge = w.Dropdown(options=judge_choices(), value=FAST, description="judge")
        self.button = w.Button(description="Re-judge", icon="gavel",
                               tooltip="judge the stored answers again: no call to the arms' models")
        self.output = w.HTML("<small>re-judges the stored answers: the arms' models are not called</small>")
        self.button.on_click(lambda _: self.run())
        self.outcome: Rejudged | None = None
        self.widget = w.VBox([w.HBox([self.judge, self.button]), self.output])

    def run(self) -> Rejudged:
        from toolkit.judges import judge_card

        choice = self.judge.value
        self.output.value = f"<small>re-judging {len(self.result.records)} answers with {esc(choice)}…</small>"
        try:
            outcome = rejudge(self.result, make_judge(choice, self.base_url), choice, self.marks)
        except Exception as error:  # noqa: BLE001 - e.g. an LLM judge without its key: shown, not raised
            self.output.value = f"<span style='color:#b00'>re-judge failed: {esc(error)}</span>"
            raise
        self.outcome = outcome
        rows = [[arm, interval(old), interval(new)] for arm, (old, new) in outcome.rates.items()]
        card = judge_card("rules" if choice in ("claims", FAST) else choice.removeprefix("llm:"))
        lines = [
            table(("arm", f"hallucination ({outcome.stored_judge}, stored)", f"hallucination ({choice})"), rows),
            f"<div><b>Agreement of the two judges:</b> {esc(_kappa_text(outcome.kappa))}</div>",
            f"<div><b>Calls:</b> 0 to the arms' models; {outcome.judge_calls} to the judge</div>",
        ]
        if card.get("measured"):
            lines.append(f"<small>{esc(choice)} on the labelled set: {esc(_card_text(card))}</small>")
        for judge, stats in outcome.human.items():
            lines.append(f"<div><b>{esc(judge)} vs the reviewer's marks:</b> {esc(_kappa_text(stats))}</div>")
        self.output.value = "".join(lines)
        return outcome


def _card_text(card: Mapping[str, Any]) -> str:
    """The judge card's figures on its labelled split, e.g. ``balanced_accuracy 0.98, false_alarm 0.02 (n=854)``."""
    figures = card.get("figures", {})
    shown = [f"{key} {value:.2f}" for key, value in figures.items() if isinstance(value, float)]
    return f"{', '.join(shown)} (n={figures.get('n', '?')}, {card.get('version', '')}, {card.get('split', '')} split)"
