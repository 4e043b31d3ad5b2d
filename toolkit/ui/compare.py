"""Compare panel: pick MLflow experiment runs and see their arms side by side, with CIs and paired-test p-values.

Everything is read back from MLflow (``toolkit.tracking``, the only mlflow importer): the arms' logged metrics and
interval bounds, and each arm's per-question table for the paired tests, so a reviewer can compare runs made on
another machine against a shared tracking server.
"""

from __future__ import annotations

import itertools
from typing import Any

import ipywidgets as w

from toolkit.metrics import binary_metrics, headline_metrics, paired_metrics
from toolkit.metrics.stats import STATS_NOTE
from toolkit.ui.html import esc, fmt, interval, money, table

ARM_METRICS = headline_metrics()
ARM_HEADERS = ("run", "arm", "answered", *ARM_METRICS, "p50 s", "$ per 1,000 correct", "network calls")
PAIRED_METRICS = paired_metrics()
PAIRED_HEADERS = ("metric", "arm A", "arm B", "n", "A − B [CI]", "test", "p", "p (Holm)")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _get(row: Any, column: str) -> Any:
    value = row.get(column)
    return None if _missing(value) else value


def list_runs(experiment: str | None = None, *, tracking_uri: str | None = None):
    """Experiment (parent) runs, newest first, with a readable ``label`` column."""
    from toolkit import tracking

    runs = tracking.load_runs(experiment, tracking_uri=tracking_uri, kind="experiment")
    if runs.empty:
        return runs
    runs = runs.sort_values("start_time", ascending=False).reset_index(drop=True)
    runs["label"] = [
        f"{_get(r, 'tags.mlflow.runName') or r['run_id']} · {r['start_time']:%Y-%m-%d %H:%M} · {r['run_id'][:8]}"
        for _, r in runs.iterrows()
    ]
    return runs


def load_arms(run_ids: list[str], *, tracking_uri: str | None = None):
    """The arm (child) runs of the given experiment runs, with ``parent`` (short id) and ``arm`` columns."""
    import pandas as pd

    from toolkit import tracking

    frames = []
    for run_id in run_ids:
        arms = tracking.load_runs(None, tracking_uri=tracking_uri, parent_run_id=run_id, kind="arm")
        if not arms.empty:
            arms = arms.assign(parent=run_id[:8], arm=arms["tags.tierlab.arm"]).sort_values("arm")
            frames.append(arms)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def arm_label(row: Any) -> str:
    return f"{row['parent']} | {row['arm']}"


def _metric(row: Any, name: str):
    """A logged arm metric by its TierLab name (MLflow columns carry grouped names, e.g. ``quality/accuracy``)."""
    from toolkit import tracking

    return _get(row, f"metrics.{tracking.metric_key(name)}")


def arm_rows(arms) -> list[list[str]]:
    """One row per arm: logged metric values with their logged intervals, latency, $ per 1,000 correct answers."""
    from toolkit import tracking

    rows = []
    for _, row in arms.iterrows():
        cells = [row["parent"], row["arm"], f"{fmt(_metric(row, 'answered'), 0)}/{fmt(_metric(row, 'planned'), 0)}"]
        intervals = tracking.arm_intervals(row)
        for name in ARM_METRICS:
            value, low, high, n = intervals.get(tracking.metric_key(name), (_metric(row, name), None, None, None))
            cells.append(interval(value, low, high, n=n))
        cells += [
            fmt(_metric(row, "latency_p50_s")),
            money(_metric(row, "cost/total_usd_per_1k_correct")),
            fmt(_metric(row, "network_calls"), 0),
        ]
        rows.append(cells)
    return rows


def paired_tests(tables: dict[str, Any], metric: str, *, confidence: float = 0.95, seed: int = 0) -> list[Any]:
    """McNemar (binary metrics) or a paired permutation test for every pair of arms on the questions both answered.

    ``tables``: arm label -> its per-question table (``question_id`` plus one column per metric). The tests shown
    together (every pair, this metric) are one Holm family.
    """
    from toolkit.metrics.stats import adjust, compare_answered

    tests = []
    for (label_a, a), (label_b, b) in itertools.combinations(tables.items(), 2):
        if a.empty or b.empty or metric not in a or metric not in b:
            continue
        va = {q: None if _missing(v) else float(v) for q, v in zip(a["question_id"], a[metric], strict=True)}
        vb = {q: None if _missing(v) else float(v) for q, v in zip(b["question_id"], b[metric], strict=True)}
        test = compare_answered(metric, label_a, va, label_b, vb, binary=metric in binary_metrics(),
                                confidence=confidence, seed=seed)
        if test is not None:
            tests.append(test)
    return list(adjust(tests))


class ComparePanel:
    """Select experiment runs → Compare → their arms side by side and paired tests on the chosen metric."""

    def __init__(self, experiment: str | None = None, *, tracking_uri: str | None = None):
        self.experiment = experiment
        self.tracking_uri = tracking_uri
        self.runs_select = w.SelectMultiple(description="runs", rows=6, layout=w.Layout(width="95%"))
        self.metric = w.Dropdown(options=PAIRED_METRICS, value="accuracy", description="paired on")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.compare_button = w.Button(description="Compare", button_style="primary")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.compare_button.on_click(lambda _: self.compare())
        self.metric.observe(lambda _: self._show_paired(), names="value")
        self.message = w.HTML()
        self.arms_html = w.HTML()
        self.paired_html = w.HTML()
        self.arms = None
        self.tables: dict[str, Any] = {}
        self.widget = w.VBox([
            w.HTML(f"<h4 style='margin:4px 0'>Compare runs{': ' + esc(experiment) if experiment else ''}</h4>"),
            self.runs_select, w.HBox([self.refresh_button, self.compare_button, self.metric]),
            self.message, self.arms_html, self.paired_html,
        ])
        self.refresh()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def refresh(self) -> None:
        runs = list_runs(self.experiment, tracking_uri=self.tracking_uri)
        self.runs_select.options = [] if runs.empty else list(zip(runs["label"], runs["run_id"], strict=True))
        self.message.value = "" if not runs.empty else (
            "<small>no experiment runs in MLflow yet: run one (Experiment panel or `tierlab run`)</small>"
        )

    def compare(self, run_ids: list[str] | None = None) -> None:
        """Load the arms of the selected runs (or ``run_ids``) and show them with paired tests."""
        if run_ids is not None:
            self.runs_select.value = tuple(run_ids)
        selected = list(self.runs_select.value)
        if not selected:
            self.message.value = "<small>select one or more runs first</small>"
            return
        from toolkit import tracking

        self.arms = load_arms(selected, tracking_uri=self.tracking_uri)
        self.tables = {
            arm_label(row): tracking.load_question_table(row["run_id"], tracking_uri=self.tracking_uri)
            for _, row in self.arms.iterrows()
        }
        self.arms_html.value = table(ARM_HEADERS, arm_rows(self.arms)) if not self.arms.empty else "<small>no arms</small>"
        self.message.value = f"<small>{len(self.arms)} arms from {len(selected)} run(s)</small>"
        self._show_paired()

    def _show_paired(self) -> None:
        if not self.tables:
            self.paired_html.value = ""
            return
        tests = paired_tests(self.tables, self.metric.value)
        rows = [[t.metric, t.arm_a, t.arm_b, str(t.n), t.diff_text(), t.test, t.p_text(), t.p_text(adjusted=True)]
                for t in tests]
        self.paired_html.value = (
            table(PAIRED_HEADERS, rows) + f"<small>{esc(STATS_NOTE)}; Holm over the {len(rows)} tests shown</small>"
            if rows else "<small>no pair of arms shares questions for this metric</small>"
        )
