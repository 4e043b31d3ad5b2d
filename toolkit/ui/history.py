"""Run history of a spec in the Experiment panel: its earlier stored runs, and a diff of two runs' answers.

A spec's settings (sample, seed, providers, methods …) give each run its own folder under the runs root; runs with
the same spec name are "this experiment" over time. The diff lists the (arm, question) pairs whose answer or
outcome changed, which is what a reader wants after changing a prompt, a model or a judge. Nothing is called.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ipywidgets as w

from toolkit.ui.html import esc, table

DIFF_HEADERS = ("arm", "question", "answer A", "answer B", "A", "B")
RUN_HEADERS = ("last change", "answers", "arms", "sample", "seed", "run folder")
HISTORY_ROWS = 10


@dataclass(frozen=True)
class StoredRun:
    folder: str
    modified: datetime
    answers: int
    sample_size: int | None
    seed: int
    arms: int

    @property
    def label(self) -> str:
        return (f"{self.modified:%Y-%m-%d %H:%M} · {self.answers} answers · {self.arms} arms · "
                f"sample {self.sample_size or 'all'} · seed {self.seed} · {self.folder}")


def runs_of(name: str, runs_root: Path | None = None) -> list[StoredRun]:
    """Stored runs whose spec is called ``name``, newest first."""
    from toolkit import paths
    from toolkit.experiments.spec import load_spec
    from toolkit.experiments.store import Store

    root = Path(runs_root or paths.subdir("runs"))
    runs = []
    for spec_file in root.glob("*/spec.yaml"):
        try:
            spec = load_spec(spec_file)
        except Exception:  # noqa: BLE001 - a spec from an older version: not this experiment's history
            continue
        if spec.name != name:
            continue
        records = Store(spec_file.parent).records()
        modified = max((p.stat().st_mtime for p in spec_file.parent.iterdir()), default=spec_file.stat().st_mtime)
        runs.append(StoredRun(spec_file.parent.name, datetime.fromtimestamp(modified, UTC), len(records),
                              spec.sample_size, spec.seed, len(spec.arms())))
    return sorted(runs, key=lambda r: r.modified, reverse=True)


def diff_runs(a: Any, b: Any) -> list[dict[str, Any]]:
    """(arm, question) pairs whose answer text or outcome differs between results ``a`` and ``b`` (or that only
    one of them answered)."""
    from toolkit.experiments.results import question_row
    from toolkit.ui.grid import outcome

    def rows(result):
        return {(r.arm, r.question.id): (r, question_row(r, result.spec.metrics)) for r in result.records}

    left, right = rows(a), rows(b)
    changes = []
    for key in sorted(set(left) | set(right)):
        (ra, qa), (rb, qb) = left.get(key, (None, None)), right.get(key, (None, None))
        answer_a, answer_b = (ra.answer.text if ra else None), (rb.answer.text if rb else None)
        outcome_a, outcome_b = (outcome(qa) if qa else "not asked"), (outcome(qb) if qb else "not asked")
        if answer_a != answer_b or outcome_a != outcome_b:
            question = (ra or rb).question.question
            changes.append({"arm": key[0], "question_id": key[1], "question": question, "answer_a": answer_a,
                            "answer_b": answer_b, "outcome_a": outcome_a, "outcome_b": outcome_b})
    return changes


class HistorySection:
    """Two pickers over the spec's stored runs and a Diff button; ``refresh`` after each run."""

    def __init__(self, spec_name, runs_root: Path | None = None):
        self._spec_name, self.runs_root = spec_name, runs_root
        self.list = w.HTML()
        self.run_a = w.Dropdown(description="run A", layout=w.Layout(width="48%"))
        self.run_b = w.Dropdown(description="run B", layout=w.Layout(width="48%"))
        self.diff_button = w.Button(description="Diff answers", icon="exchange")
        self.output = w.HTML()
        self.diff_button.on_click(lambda _: self.diff())
        self.widget = w.VBox([self.list, w.HBox([self.run_a, self.run_b]), self.diff_button, self.output])
        self.runs: list[StoredRun] = []

    def refresh(self) -> list[StoredRun]:
        """List the spec's stored runs and pick the previous one as A and the latest as B (a Dropdown given new
        options picks nothing by itself)."""
        self.runs = runs_of(self._spec_name(), self.runs_root)
        options = [(r.label, r.folder) for r in self.runs]
        self.run_a.options, self.run_b.options = options, options
        if options:
            self.run_a.value, self.run_b.value = options[min(1, len(options) - 1)][1], options[0][1]
        rows = [[f"{r.modified:%Y-%m-%d %H:%M}", r.answers, r.arms, r.sample_size or "all", r.seed, r.folder]
                for r in self.runs[:HISTORY_ROWS]]
        self.list.value = (
            f"<small>{len(self.runs)} stored run(s) of <code>{esc(self._spec_name())}</code>, newest first"
            f"{f' (the {HISTORY_ROWS} newest shown)' if len(self.runs) > HISTORY_ROWS else ''}:</small>"
            + table(RUN_HEADERS, rows) if self.runs else "<small>no stored run of this spec yet</small>")
        self.diff_button.disabled = len(options) < 2
        return self.runs

    def diff(self) -> list[dict[str, Any]]:
        from toolkit.experiments.runner import load_result

        a = load_result(self.run_a.value, runs_root=self.runs_root)
        b = load_result(self.run_b.value, runs_root=self.runs_root)
        changes = diff_runs(a, b)
        rows = [[c["arm"], c["question"][:70], str(c["answer_a"])[:80], str(c["answer_b"])[:80], c["outcome_a"],
                 c["outcome_b"]] for c in changes]
        self.output.value = (f"<small>{len(changes)} changed answer(s)</small>" + table(DIFF_HEADERS, rows)
                             if changes else "<small>same answers and outcomes in both runs</small>")
        return changes
