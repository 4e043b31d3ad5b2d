"""The Re-judge tab: pick a judge, press Re-judge; the logic (``rejudge``) lives in ``toolkit.judges.rejudge``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ipywidgets as w

from toolkit.judges.rejudge import Rejudged, judge_choices, rejudge
from toolkit.ui.html import esc, interval, table


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
        self.judge = w.Dropdown(options=judge_choices(), description="judge")
        self.button = w.Button(description="Re-judge", icon="gavel",
                               tooltip="judge the stored answers again: no call to the arms' models")
        self.output = w.HTML("<small>re-judges the stored answers: the arms' models are not called</small>")
        self.button.on_click(lambda _: self.run())
        self.outcome: Rejudged | None = None
        self.widget = w.VBox([w.HBox([self.judge, self.button]), self.output])

    def run(self) -> Rejudged:
        from toolkit.judges import get_judge, judge_card
        from toolkit.judges.card import card_text

        choice = self.judge.value
        self.output.value = f"<small>re-judging {len(self.result.records)} answers with {esc(choice)}…</small>"
        try:
            options = {"base_url": self.base_url} if choice.startswith("llm:") else {}
            outcome = rejudge(self.result, get_judge(choice, **options), choice, self.marks)
        except Exception as error:  # noqa: BLE001 - e.g. an LLM judge without its key: shown, not raised
            self.output.value = f"<span style='color:#b00'>re-judge failed: {esc(error)}</span>"
            raise
        self.outcome = outcome
        rows = [[arm, interval(old), interval(new)] for arm, (old, new) in outcome.rates.items()]
        card = judge_card(choice)
        lines = [
            table(("arm", f"hallucination ({outcome.stored_judge}, stored)", f"hallucination ({choice})"), rows),
            f"<div><b>Agreement of the two judges:</b> {esc(_kappa_text(outcome.kappa))}</div>",
            f"<div><b>Calls:</b> 0 to the arms' models; {outcome.judge_calls} to the judge</div>",
        ]
        lines.append(f"<small>{esc(choice)}: {esc(card_text(card))}</small>")
        for judge, stats in outcome.human.items():
            lines.append(f"<div><b>{esc(judge)} vs the reviewer's marks:</b> {esc(_kappa_text(stats))}</div>")
        self.output.value = "".join(lines)
        return outcome
