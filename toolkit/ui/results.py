"""Results view: summary with confidence intervals, the two plots, paired tests, per-question drill-down, MLflow link.

The numbers come from ``ExperimentResult`` (the experiments area), so the panel, the CLI report and MLflow show
the same values; this module only arranges them. The pure ``*_rows``/``drilldown`` functions are what tests check.
"""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets as w

from toolkit.judges.card import judges_text
from toolkit.metrics import headline_metrics, metric_info
from toolkit.metrics.stats import STATS_NOTE
from toolkit.ui.html import count, esc, interval, money, scrolling, table

SUMMARY_METRICS = headline_metrics()
PER = 1000


def summary_columns(confidence: float = 0.95) -> dict[str, str]:
    """The summary table's columns, each with what hovering its header says (the metrics' registered
    descriptions, so "groundedness" is explained where it is shown)."""
    pct = round(confidence * 100)
    return {
        "arm": "method · provider: the arm's short label (the Drill-down tab lists arms by their full names)",
        "answered": "questions answered / planned; '(k cached)': answers replayed from the response cache",
        **{name: f"{metric_info(name).description} Shown as value [{pct}% interval] n=questions it applies to."
           for name in SUMMARY_METRICS},
        "p50 / p95 s": "median and 95th-percentile seconds per answer (the whole method, all its calls)",
        "calls (network)": "model calls, and in brackets those that went over the network (the rest came from cache)",
        "$ per 1k questions": "dollars per 1,000 questions: the larger of what was charged and the paid tier's list "
                              "price (so a paid call counts once), plus self-hosted capacity time",
        "$ per 1k correct": "the same dollars per 1,000 correct answers",
        "$ charged": "what this run was actually charged in total ($0 on a free tier)",
        "stopped": "why the arm stopped before answering every question (budget, quota, cancelled)",
    }


SUMMARY_HEADERS = tuple(summary_columns())


def summary_rows(result: Any) -> list[list[str]]:
    """One row per arm: headline metrics as ``value [low, high] n``, latency, calls and dollars per 1,000 questions
    and per 1,000 correct answers."""
    from toolkit.experiments.results import total_cost_usd

    labels = result.arm_labels()
    rows = []
    for arm in result.arms:
        cost = arm.cost
        latency = "–" if not cost.get("latency_n", arm.answered) or cost.get("latency_p50_s") is None else (
            f"{cost['latency_p50_s']:.2f} / {cost['latency_p95_s']:.2f}")
        cached = sum(1 for r in result.records if r.arm == arm.arm and r.answer.cached)
        total, correct = total_cost_usd(cost), cost.get("correct")
        rows.append(
            [
                labels.get(arm.arm, arm.arm),
                f"{arm.answered}/{arm.planned}" + (f" ({cached} cached)" if cached else ""),
                *(interval(arm.metrics.get(name)) for name in SUMMARY_METRICS),
                latency,
                f"{count(cost.get('calls'))} ({count(cost.get('network_calls'))})",
                money(total * PER / arm.answered) if arm.answered else "–",
                money(total * PER / correct) if correct else "–",
                money(cost.get("cost_usd")),
                arm.stopped or "",
            ]
        )
    return rows


def summary_html(result: Any) -> str:
    """The summary table, scrolling sideways when wider than the panel, every column explained on hover."""
    note = "<small>Hover a column name for what it means.</small>"
    columns = summary_columns(result.spec.confidence)
    return scrolling(table(SUMMARY_HEADERS, summary_rows(result), titles=columns, nowrap=True)) + note


def retrieval_html(result: Any) -> str:
    """The headline comparison (test, Holm p, power) and what RAG arms searched, with their retrieval quality."""
    from toolkit.experiments.headline import headline
    from toolkit.experiments.report import RETRIEVAL_HEADERS, retrieval_rows

    parts = []
    if found := headline(result):
        parts.append("<b>Headline comparison</b><br>" + "<br>".join(esc(line) for line in found.sentences()))
    if result.retrieval is not None:
        scope = result.retrieval
        style = " style='color:#b00'" if scope.scope != "corpus" else ""
        parts.append(f"<b>Retrieval:</b> <span{style}>{esc(scope.label)}</span>")
        rows = retrieval_rows(result)
        if rows:
            parts.append(table(RETRIEVAL_HEADERS, rows))
    return "<br>".join(parts)


COMPARISON_HEADERS = ("metric", "arm A", "arm B", "n", "A − B [CI]", "test", "p", "p (Holm)")


def comparison_rows(comparisons: Any, metric: str | None = None, labels: dict[str, str] | None = None) -> list[list[str]]:
    """One row per paired test (arms by their short ``labels``); ``p (Holm)`` is adjusted over every comparison of
    the run, not only those shown."""
    labels = labels or {}
    return [
        [t.metric, labels.get(t.arm_a, t.arm_a), labels.get(t.arm_b, t.arm_b), str(t.n), t.diff_text(), t.test,
         t.p_text(), t.p_text(adjusted=True)]
        for t in comparisons
        if metric in (None, t.metric)
    ]


def drilldown(record: Any) -> dict[str, Any]:
    """What a reviewer needs to see why an answer is right or wrong: the method's intermediate outputs."""
    answer, details = record.answer, record.answer.details or {}
    questions = list(details.get("verification_questions") or [])
    answers = list(details.get("verification_answers") or [])
    return {
        "arm": record.arm,
        "question": record.question.question,
        "kind": record.question.kind,
        "gold": list(record.question.answers),
        "baseline": details.get("baseline"),
        "verification": [
            (q, answers[i] if i < len(answers) else None) for i, q in enumerate(questions)
        ],
        "cross_checks": list(details.get("cross_checks") or []),
        "final": answer.text,
        "retrieved": [(c.id, c.doc_id, c.score, c.text) for c in answer.retrieved],
        "hallucinated": record.verdict.hallucinated,
        "verdict": record.verdict.reason,
        "flags": list(answer.flags),
        "steps": [s.name for s in answer.steps],
        "latency_s": record.latency_s,
    }


def drilldown_html(record: Any) -> str:
    d = drilldown(record)
    parts = [
        f"<b>{esc(d['question'])}</b> <small>({esc(d['kind'])}; gold: {esc('; '.join(d['gold']) or '— (unanswerable)')})</small>",
        f"<div><b>Final answer:</b> {esc(d['final'])}"
        f" — {'<span style=color:#b00>hallucinated</span>' if d['hallucinated'] else 'supported'}"
        f" <small>({esc(d['verdict'])})</small></div>",
    ]
    if d["baseline"] is not None:
        parts.append(f"<div><b>Baseline:</b> {esc(d['baseline'])}</div>")
    if d["verification"]:
        items = "".join(f"<li>{esc(q)} → <i>{esc(a if a is not None else '–')}</i></li>" for q, a in d["verification"])
        parts.append(f"<div><b>Verification questions and answers:</b><ol>{items}</ol></div>")
    if d["cross_checks"]:
        items = "".join(f"<li>{esc(c)}</li>" for c in d["cross_checks"])
        parts.append(f"<div><b>Cross-checks:</b><ol>{items}</ol></div>")
    if d["retrieved"]:
        items = "".join(
            f"<li><code>{esc(cid)}</code> ({esc(doc)}, score {score:.2f}): {esc(text[:300])}</li>"
            for cid, doc, score, text in d["retrieved"]
        )
        parts.append(f"<div><b>Retrieved chunks:</b><ul>{items}</ul></div>")
    meta = f"steps: {', '.join(d['steps']) or '–'} · latency {d['latency_s']:.2f} s"
    if d["flags"]:
        meta += f" · flags: {', '.join(d['flags'])}"
    parts.append(f"<small>{esc(meta)}</small>")
    return "".join(parts)


def corrected_html(result: Any) -> str:
    """Hallucination rates judge only vs prediction-powered (human labels from the review pane)."""
    from toolkit.experiments.rates import corrected_rates
    from toolkit.ui.review_pane import rates_html

    return rates_html(corrected_rates(result))


class MlflowButton:
    """"Open in MLflow": finds the MLflow UI already serving the run's store, or starts one on 127.0.0.1 (on a
    thread, ~13 s) when none does, and shows the link to the run; nothing when the run was not tracked."""

    def __init__(self, run_id: str | None, tracking_uri: str | None = None):
        self.run_id, self.tracking_uri = run_id, tracking_uri
        self.button = w.Button(description="Open in MLflow", icon="external-link", disabled=not run_id,
                               tooltip="start (or find) mlflow ui on 127.0.0.1 for this run's store")
        self.link = w.HTML("" if run_id else "<small>not tracked in MLflow</small>")
        self.button.on_click(lambda _: self.open())
        self.widget = w.HBox([self.button, self.link])
        self._thread: threading.Thread | None = None

    def open(self, wait: bool = False) -> str:
        """Start looking up/starting the server; with ``wait`` return the link HTML once it is there."""
        if self._thread is None or not self._thread.is_alive():
            self.button.disabled = True
            self.link.value = "<small>looking for the MLflow UI serving this store (starting one only if none)…</small>"
            self._thread = threading.Thread(target=self._open, daemon=True)
            self._thread.start()
        if wait:
            self._thread.join()
        return self.link.value

    def _open(self) -> None:
        from toolkit.ui import mlflow_ui

        try:
            url = mlflow_ui.open_url(self.run_id, self.tracking_uri)
        except Exception as exc:  # noqa: BLE001 - shown beside the button
            self.link.value = f"<span style='color:#b00'>MLflow UI unavailable: {esc(exc)}</span>"
        else:
            self.link.value = f"<a href='{esc(url)}' target='_blank'>MLflow run {esc(self.run_id[:8])} ↗</a>"
        finally:
            self.button.disabled = False


PLOTS_TAB = 2


class ResultsView:
    """Tabs: Summary (CIs, cost), Plots (accuracy–cost, hallucination), Paired tests, Drill-down per question."""

    def __init__(self, result: Any, *, plots: bool = True, tracking_uri: str | None = None):
        self.result = result
        spec = result.spec
        self.header = w.HTML(
            f"<h4 style='margin:4px 0'>Results: {esc(spec.name)}</h4>"
            f"<small>run <code>{esc(result.run_key)}</code> · {len(result.records)} answers · "
            f"{result.network_calls} network calls this run · {round(spec.confidence * 100)}% CIs (Wilson / BCa)<br>"
            f"judge {esc(judges_text(result.records) or '–')}</small>"
        )
        self.mlflow = MlflowButton(result.mlflow_run_id, tracking_uri)
        self.summary = w.HTML(summary_html(result))
        self.corrected = w.HTML(corrected_html(result))
        notes = [f"{len(result.errors)} question(s) failed (retried on the next run)"] if result.errors else []
        notes += [f"skipped {name}: {why}" for name, why in result.skipped.items()]
        self.notes = w.HTML("<br>".join(esc(n) for n in notes))
        self.retrieval = w.HTML(retrieval_html(result))

        metrics = sorted({t.metric for t in result.comparisons})
        self.metric = w.Dropdown(
            options=metrics, value="accuracy" if "accuracy" in metrics else (metrics[0] if metrics else None),
            description="metric",
        )
        self.comparisons = w.HTML()
        self.metric.observe(lambda _: self._show_comparisons(), names="value")
        self._show_comparisons()

        self.arm = w.Dropdown(options=[a.arm for a in result.arms], description="arm")
        self.question = w.Dropdown(description="question", layout=w.Layout(width="95%"))
        self.detail = w.HTML()
        self.arm.observe(lambda _: self._arm_changed(), names="value")
        self.question.observe(lambda _: self._show_detail(), names="value")
        self._arm_changed()

        from toolkit.ui.plots import PlotsTab

        self.plots = PlotsTab(result)
        self._plots_wanted = plots
        from toolkit.ui.grid import ResultsGrid
        from toolkit.ui.rejudge import RejudgePanel

        self.grid = ResultsGrid(result, drilldown_html)
        self.rejudge = RejudgePanel(result)
        self.tabs = w.Tab(
            children=[
                w.VBox([self.summary, self.corrected, self.notes, self.retrieval]),
                self.grid.widget,
                self.plots.widget,
                w.VBox([self.metric, self.comparisons]),
                w.VBox([self.arm, self.question, self.detail]),
                self.rejudge.widget,
            ],
            titles=("Summary", "Grid", "Plots", "Paired tests", "Drill-down", "Re-judge"),
        )
        self.tabs.observe(lambda change: self.show_plots() if change["new"] == PLOTS_TAB else None,
                          names="selected_index")
        self.widget = w.VBox([self.header, self.tabs, self.mlflow.widget])

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def show_plots(self) -> list[w.Widget]:
        """The Plots tab's figures, drawn when it is first opened (``plots=False`` leaves them to the tab)."""
        return self.plots.show() if self._plots_wanted else list(self.plots.images.children)

    def _show_comparisons(self) -> None:
        rows = comparison_rows(self.result.comparisons, self.metric.value, self.result.arm_labels())
        self.comparisons.value = (
            scrolling(table(COMPARISON_HEADERS, rows, nowrap=True)) + f"<small>{esc(STATS_NOTE)}; Holm over all "
            f"{len(self.result.comparisons)} comparisons of this run</small>"
            if rows else "<small>no paired tests (one arm, or no shared questions)</small>"
        )

    def _records(self) -> list[Any]:
        return [r for r in self.result.records if r.arm == self.arm.value]

    def _arm_changed(self) -> None:
        records = self._records()
        self.question.options = [(f"{r.question.id}: {r.question.question[:80]}", i) for i, r in enumerate(records)]
        self.question.value = 0 if records else None  # new options leave a Dropdown unselected
        self._show_detail()

    def _show_detail(self) -> None:
        records = self._records()
        index = self.question.value
        self.detail.value = drilldown_html(records[index]) if index is not None and index < len(records) else ""

    def select(self, arm: str, question_id: str) -> str:
        """Show one answer's drill-down (what a click in the two dropdowns does); returns its HTML."""
        self.arm.value = arm
        self.question.value = next(i for i, r in enumerate(self._records()) if r.question.id == question_id)
        return self.detail.value
