"""The review pane: two arms side by side, question by question, with Correct / Incorrect and Supported /
Hallucinated / Abstained buttons, a "label a random sample" mode with its progress, and the corrected rates.

A thin widget over ``toolkit.review.Review`` (what to show, marks, sample, rates, MLflow sync): every button calls
one of its methods, so the pane is testable by clicking without a browser and a script does the same without it.

Keyboard: ipywidgets has no key-event widget (ipyevents would be another front-end extension to install), but a
``Text`` box with ``continuous_update`` sends every keystroke to the kernel. Click into the "keys" box and type:
``c`` / ``x`` correct / incorrect, ``s`` / ``h`` / ``a`` supported / hallucinated / abstained for the LEFT arm, the
same letters with Shift for the RIGHT arm, ``n`` / ``p`` next / previous question. The box empties itself.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from toolkit.experiments.rates import CorrectedRates
from toolkit.review import MarkError, Review
from toolkit.ui.html import esc, interval, table

KEYS = {"c": ("accuracy", "correct"), "x": ("accuracy", "incorrect"), "s": ("hallucination", "supported"),
        "h": ("hallucination", "hallucinated"), "a": ("hallucination", "abstained")}
MODES = ("all questions", "random sample")
KEY_HELP = ("keys: c/x correct/incorrect · s/h/a supported/hallucinated/abstained (left arm; Shift = right arm) · "
            "n/p next/previous")


def rates_html(rates: CorrectedRates) -> str:
    """Judge-only and prediction-powered hallucination rates side by side, with what each one is."""
    rows = []
    for arm in rates.arms:
        card = "not measured" if arm.judge_balanced_accuracy is None else f"{arm.judge_balanced_accuracy:.2f}"
        rows.append([arm.arm, interval(arm.judge_rate), card,
                     interval(arm.ppi_rate) if arm.ppi_rate else arm.status,
                     f"{arm.labels} of {arm.sample}" if arm.sample else "0",
                     "–" if arm.kappa is None else f"{arm.kappa:.2f} (n={arm.marked})"])
    headers = ("arm", "hallucination: judge only (uncorrected)", "judge balanced accuracy (card)",
               "prediction-powered", "human labels (sample)", "judge vs human κ")
    diffs = [[f"{d.arm_a} − {d.arm_b}", interval(d.judge_diff), interval(d.ppi_diff), str(d.labels)]
             for d in rates.differences if d.ppi_diff is not None]
    html = table(headers, rows)
    accuracy = [[arm.arm, interval(arm.accuracy_scorer), interval(arm.accuracy_ppi), str(arm.accuracy_labels),
                 "–" if arm.accuracy_kappa is None else f"{arm.accuracy_kappa:.2f}"]
                for arm in rates.arms if arm.accuracy_ppi is not None]
    if accuracy:
        html += table(("arm", "accuracy: scorer (uncorrected)", "prediction-powered", "human labels",
                       "scorer vs human κ"), accuracy)
    if diffs:
        html += table(("difference", "judge only", "prediction-powered", "paired labels"), diffs)
    return html + ("<small>Prediction-powered: the judge's rate on every answer, corrected by human labels on a "
                   "random sample (Angelopoulos et al. 2023); valid whatever the judge's quality.</small>")


class ArmColumn:
    """One arm's side: its answer and evidence, and the five mark buttons."""

    def __init__(self, pane: ReviewPane, side: int):
        self.pane, self.side = pane, side
        self.card = w.HTML(layout=w.Layout(min_height="120px"))
        self.buttons = {}
        for key, (field, value) in KEYS.items():
            style = {"correct": "success", "incorrect": "danger", "supported": "success", "hallucinated": "danger",
                     "abstained": "warning"}[value]
            button = w.Button(description=value.capitalize(), button_style=style,
                              tooltip=f"key {key if side == 0 else key.upper()}", layout=w.Layout(width="auto"))
            button.on_click(lambda _, f=field, v=value: self.pane.mark(self.side, **{f: v}))
            self.buttons[value] = button
        row = lambda names: w.HBox([self.buttons[n] for n in names])  # noqa: E731
        self.widget = w.VBox([self.card, row(("correct", "incorrect")), row(("supported", "hallucinated", "abstained"))],
                             layout=w.Layout(width="50%", padding="0 8px"))

    def show(self, arm: str, view: dict[str, Any] | None) -> None:
        for button in self.buttons.values():
            button.disabled = view is None
        if view is None:
            self.card.value = f"<b>{esc(arm)}</b><br><i>no answer to this question</i>"
            return
        parts = [f"<b>{esc(arm)}</b>", f"<div><b>Answer:</b> {esc(view['answer'])}</div>"]
        if view["chunks"]:
            items = "".join(f"<li><code>{esc(cid)}</code> ({esc(doc)}): {esc(text)}</li>"
                            for cid, doc, text in view["chunks"])
            parts.append(f"<details><summary>chunks shown in the prompt ({len(view['chunks'])})</summary>"
                         f"<ol>{items}</ol></details>")
        if view["verification"]:
            items = "".join(f"<li>{esc(q)} → <i>{esc(a if a is not None else '–')}</i></li>"
                            for q, a in view["verification"])
            parts.append(f"<div><b>CoVe verification:</b><ol>{items}</ol></div>")
        verdicts = "; ".join(f"{esc(name)}: <b>{esc(label)}</b> <small>({esc(reason)})</small>"
                             for name, (label, reason) in view["verdicts"].items())
        parts.append(f"<div><b>Judge:</b> {verdicts}</div>")
        mark = view["mark"]
        marked = "not marked yet" if mark is None else (
            f"{mark.accuracy or '–'} · {mark.hallucination or '–'} <small>({esc(mark.reviewer or 'anonymous')}, "
            f"{esc(mark.source)})</small>")
        parts.append(f"<div><b>Human mark:</b> {marked}</div>")
        self.card.value = "".join(parts)


class ReviewPane:
    """Pick two arms, step through questions side by side, mark answers; or label each arm's random sample."""

    def __init__(self, review: Review, *, sample_size: int = 30):
        self.review = review
        arms = review.arms
        self.arm_a = w.Dropdown(options=arms, value=arms[0], description="left arm")
        self.arm_b = w.Dropdown(options=arms, value=arms[1] if len(arms) > 1 else arms[0], description="right arm")
        self.reviewer = w.Text(value=review.reviewer, description="reviewer", placeholder="your name")
        self.mode = w.ToggleButtons(options=MODES, value=MODES[0])
        self.sample_size = w.BoundedIntText(value=sample_size, min=1, max=10_000, description="sample",
                                            layout=w.Layout(width="160px"))
        self.draw = w.Button(description="Draw sample", tooltip="seeded random sample per arm, stored with the run")
        self.previous, self.next = w.Button(description="◀ Previous"), w.Button(description="Next ▶")
        self.keys = w.Text(value="", placeholder="click here, then type keys", continuous_update=True,
                           description="keys", layout=w.Layout(width="260px"))
        self.position, self.progress, self.status = w.HTML(), w.HTML(), w.HTML()
        self.question = w.HTML()
        self.columns = (ArmColumn(self, 0), ArmColumn(self, 1))
        self.sync_button = w.Button(description="Sync with MLflow", icon="refresh", layout=w.Layout(width="auto"),
                                    tooltip="write marks to the traces; read marks added in the MLflow UI",
                                    disabled=review.tracking() is None)
        self.rates = w.HTML()
        self.index = 0
        for widget in (self.arm_a, self.arm_b, self.mode):
            widget.observe(lambda _: self.go(0), names="value")
        self.draw.on_click(lambda _: self.draw_sample())
        self.previous.on_click(lambda _: self.go(self.index - 1))
        self.next.on_click(lambda _: self.go(self.index + 1))
        self.keys.observe(lambda change: self.type_keys(change["new"]), names="value")
        self.sync_button.on_click(lambda _: self.sync())
        self.widget = w.VBox([
            w.HBox([self.arm_a, self.arm_b, self.reviewer]),
            w.HBox([self.mode, self.sample_size, self.draw]),
            w.HBox([self.previous, self.next, self.position, self.keys]),
            w.HTML(f"<small>{esc(KEY_HELP)}</small>"),
            self.progress, self.question, w.HBox([c.widget for c in self.columns]),
            w.HBox([self.sync_button, self.status]), self.rates,
        ])
        self.go(0)

    @property
    def arms(self) -> list[str]:
        return [self.arm_a.value, self.arm_b.value]

    def questions(self) -> list[str]:
        if self.mode.value == MODES[1]:
            return [q for q in self.review.sample_questions(list(dict.fromkeys(self.arms)))
                    if any((arm, q) in self.review.records for arm in self.arms)]
        return self.review.questions(list(dict.fromkeys(self.arms)))

    @property
    def current(self) -> str | None:
        ids = self.questions()
        return ids[self.index] if ids else None

    def go(self, index: int) -> None:
        """Show question ``index`` of the current list (clamped)."""
        ids = self.questions()
        self.index = max(0, min(index, len(ids) - 1)) if ids else 0
        self.previous.disabled, self.next.disabled = self.index == 0, self.index >= len(ids) - 1
        self.position.value = f"question {self.index + 1} of {len(ids)}" if ids else "no questions"
        self.progress.value = " · ".join(f"<b>{esc(arm)}</b>: {esc(self.review.progress_text(arm))}"
                                         for arm in dict.fromkeys(self.arms))
        self.rates.value = rates_html(self.review.rates())
        if not ids:
            self.question.value = ("<i>No sample drawn yet: press Draw sample.</i>" if self.mode.value == MODES[1]
                                   else "<i>The two arms share no answered question.</i>")
            for column, arm in zip(self.columns, self.arms, strict=True):
                column.show(arm, None)
            return
        view = self.review.view(ids[self.index], self.arms)
        gold = "; ".join(view["gold"]) or "(none: the answer should abstain)"
        self.question.value = (f"<div style='margin:6px 0'><b>{esc(view['question'])}</b> <small>"
                               f"({esc(view['kind'])}, {esc(view['question_id'])})</small><br><b>Gold:</b> "
                               f"{esc(gold)}</div>")
        for column, arm in zip(self.columns, self.arms, strict=True):
            column.show(arm, view["arms"][arm])

    def draw_sample(self) -> None:
        self.review.draw_sample(self.sample_size.value)
        self.mode.value = MODES[1]  # observing it calls go(0)
        self.go(0)

    def mark(self, side: int, **fields: str) -> None:
        """Mark the shown answer of the left (0) or right (1) arm; the mark is stored before MLflow is written."""
        question = self.current
        if question is None:
            return
        arm = self.arms[side]
        self.review.reviewer = self.reviewer.value
        try:
            self.review.mark(arm, question, **fields)
        except MarkError as error:
            self.status.value = f"<span style='color:#b00'>{esc(error)}</span>"
            return
        except Exception as error:  # noqa: BLE001 - MLflow down: the mark is stored, Sync pushes it later
            self.status.value = f"<span style='color:#b00'>stored; MLflow not updated ({esc(error)})</span>"
        else:
            where = "stored and written to MLflow" if self.review.tracking() else "stored with the run"
            self.status.value = f"<small>{esc(arm)} / {esc(question)}: {esc(' · '.join(fields.values()))} {where}</small>"
        self.go(self.index)

    def type_keys(self, typed: str) -> None:
        if not typed:
            return
        self.keys.value = ""  # observing the reset calls this again with "", which does nothing
        for key in typed:
            if key in "nN":
                self.go(self.index + 1)
            elif key in "pP":
                self.go(self.index - 1)
            elif key.lower() in KEYS:
                field, value = KEYS[key.lower()]
                self.mark(0 if key.islower() else 1, **{field: value})

    def sync(self):
        try:
            report = self.review.sync()
        except Exception as error:  # noqa: BLE001 - shown beside the button
            self.status.value = f"<span style='color:#b00'>sync failed: {esc(error)}</span>"
            return None
        self.status.value = f"<small>{esc(report.text())}</small>"
        self.go(self.index)
        return report

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
