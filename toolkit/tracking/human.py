"""Human review marks in MLflow, both ways: marks made in TierLab become HUMAN assessments on the answer's trace, and
HUMAN feedback a reviewer adds to those traces in the MLflow UI (Trace -> Assess -> Add feedback) is read back.

Names on the trace: ``correct`` (bool: True is good) and ``hallucination`` (text: supported / hallucinated /
abstained). Reading back also accepts what a reviewer is likely to type in the UI: ``correct``/``accuracy`` as
bool or text, ``hallucination`` as text, ``hallucinated`` or ``supported`` as bool. Marks TierLab wrote carry their
mark id in the assessment's metadata (``tierlab.mark_id``): pushing twice writes nothing new, and reading back skips
them; a UI mark becomes a local mark with id ``mlflow:<assessment id>``, so pulling twice adds nothing either.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from toolkit.experiments.marks import ACCURACY, HALLUCINATION, HumanMark
from toolkit.tracking.client import client_for, log_metrics

MARK_ID = "tierlab.mark_id"
ACCURACY_NAME, HALLUCINATION_NAME = "correct", "hallucination"
_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")


@dataclass
class SyncReport:
    """What one sync did: marks written to MLflow, UI marks read back, marks whose answer has no trace."""

    pushed: int = 0
    pulled: list[HumanMark] = field(default_factory=list)
    no_trace: int = 0

    def text(self) -> str:
        parts = [f"{self.pushed} mark(s) written to MLflow", f"{len(self.pulled)} read back from the MLflow UI"]
        if self.no_trace:
            parts.append(f"{self.no_trace} without a trace (only the first answers of each arm are traced)")
        return "; ".join(parts)


def answer_traces(parent_run_id: str, *, tracking_uri: str | None = None) -> dict[tuple[str, str], object]:
    """(arm, question id) -> the answer's trace (with its assessments, without spans) for every arm of a run."""
    import mlflow

    client = client_for(tracking_uri)
    mlflow.flush_trace_async_logging()
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    arms = client.search_runs([experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}'")
    found = {}
    for run in arms:
        for trace in mlflow.search_traces(locations=[experiment_id], run_id=run.info.run_id, include_spans=False,
                                          return_type="list"):
            tags = trace.info.tags
            found[(tags.get("arm", run.data.tags.get("tierlab.arm", "")), tags.get("question_id", ""))] = trace
    return found


def _feedback(mark: HumanMark) -> list[tuple[str, object]]:
    values = []
    if mark.accuracy is not None:
        values.append((ACCURACY_NAME, mark.accuracy == "correct"))
    if mark.hallucination is not None:
        values.append((HALLUCINATION_NAME, mark.hallucination))
    return values


def push(marks: list[HumanMark], traces: dict) -> tuple[int, int]:
    """Write each local mark (not yet on its trace) as HUMAN feedback; returns (written, without a trace)."""
    import mlflow
    from mlflow.entities import AssessmentSource, AssessmentSourceType

    written = missing = 0
    for mark in marks:
        if mark.source == "mlflow":
            continue
        trace = traces.get((mark.arm, mark.question_id))
        if trace is None:
            missing += 1
            continue
        if mark.mark_id in {(a.metadata or {}).get(MARK_ID) for a in trace.info.assessments}:
            continue
        source = AssessmentSource(AssessmentSourceType.HUMAN, mark.reviewer or "tierlab-reviewer")
        for name, value in _feedback(mark):
            mlflow.log_feedback(trace_id=trace.info.trace_id, name=name, value=value, source=source,
                                rationale=f"marked in TierLab ({mark.source}) at {mark.at}",
                                metadata={MARK_ID: mark.mark_id, "tierlab.source": mark.source})
        written += 1
    return written, missing


def _text(value) -> str:
    return str(value).strip().lower()


def mark_fields(name: str, value) -> dict[str, str] | None:
    """The mark field a UI feedback sets, or None when its name or value means nothing to TierLab."""
    name, text = name.strip().lower(), _text(value)
    if name in ("correct", "accuracy"):
        if text in ACCURACY:
            return {"accuracy": text}
        if text in _TRUE + _FALSE:
            return {"accuracy": "correct" if text in _TRUE else "incorrect"}
    if name == "hallucination" and text in HALLUCINATION:
        return {"hallucination": text}
    if name in ("hallucinated", "supported") and text in _TRUE + _FALSE:
        hallucinated = (text in _TRUE) == (name == "hallucinated")
        return {"hallucination": "hallucinated" if hallucinated else "supported"}
    return None


def pull(traces: dict, known: set[str]) -> list[HumanMark]:
    """HUMAN feedback on the traces that TierLab did not write and has not read yet, as marks (source mlflow)."""
    marks = []
    for (arm, question_id), trace in traces.items():
        for assessment in trace.info.assessments:
            source = assessment.source
            if getattr(source, "source_type", "") != "HUMAN" or assessment.valid is False:
                continue
            if MARK_ID in (assessment.metadata or {}) or f"mlflow:{assessment.assessment_id}" in known:
                continue
            fields = mark_fields(assessment.name, getattr(assessment, "value", None))
            if fields is None:
                continue
            at = datetime.fromtimestamp((assessment.create_time_ms or 0) / 1000, UTC)
            marks.append(HumanMark(arm=arm, question_id=question_id, reviewer=source.source_id or "", source="mlflow",
                                   at=at.isoformat(timespec="milliseconds"),
                                   mark_id=f"mlflow:{assessment.assessment_id}", **fields))
    return marks


def rate_metrics(arm_rates) -> dict[str, float]:
    """An arm's judge-only and prediction-powered hallucination rates (and corrected accuracy) under MLflow names."""
    values = {"hallucination/human_labels_n": float(arm_rates.labels)}
    if arm_rates.judge_rate is not None:
        values["hallucination/rate_judge"] = arm_rates.judge_rate.value
    if arm_rates.ppi_rate is not None:
        values |= {"hallucination/rate_ppi": arm_rates.ppi_rate.value,
                   "hallucination/rate_ppi_ci_low": arm_rates.ppi_rate.low,
                   "hallucination/rate_ppi_ci_high": arm_rates.ppi_rate.high}
    if arm_rates.kappa is not None:
        values["hallucination/judge_human_kappa"] = arm_rates.kappa
    if arm_rates.accuracy_ppi is not None:
        values |= {"quality/accuracy_ppi": arm_rates.accuracy_ppi.value,
                   "quality/accuracy_ppi_ci_low": arm_rates.accuracy_ppi.low,
                   "quality/accuracy_ppi_ci_high": arm_rates.accuracy_ppi.high,
                   "quality/accuracy_human_labels_n": float(arm_rates.accuracy_labels)}
    return values


def log_rates(parent_run_id: str, rates, *, tracking_uri: str | None = None) -> None:
    """The corrected rates on each arm's run (a new value each time marks change; MLflow shows the latest)."""
    client = client_for(tracking_uri)
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    for run in client.search_runs([experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}'"):
        arm = run.data.tags.get("tierlab.arm")
        if any(a.arm == arm for a in rates.arms):
            log_metrics(client, run.info.run_id, rate_metrics(rates.arm(arm)))


def sync(parent_run_id: str, marks: list[HumanMark], known: set[str], *,
         tracking_uri: str | None = None) -> SyncReport:
    """Push local marks to their traces and read UI marks back (the caller stores ``report.pulled``)."""
    traces = answer_traces(parent_run_id, tracking_uri=tracking_uri)
    pushed, missing = push(marks, traces)
    return SyncReport(pushed=pushed, pulled=pull(traces, known), no_trace=missing)


def log_review(result, parent_run_id: str, *, tracking_uri: str | None = None) -> SyncReport:
    """At logging time: the run's stored marks onto the new traces, and every arm's judge-only and corrected rates
    (``hallucination/rate_judge``, ``rate_ppi`` with its bounds, ``human_labels_n``) even before any review."""
    from toolkit.experiments.marks import MarkStore
    from toolkit.experiments.rates import corrected_rates

    store = MarkStore(result.run_dir)
    marks = store.history()
    report = SyncReport()
    if marks:
        report = sync(parent_run_id, marks, store.ids(), tracking_uri=tracking_uri)
        for mark in report.pulled:
            store.add(mark)
    log_rates(parent_run_id, corrected_rates(result, store), tracking_uri=tracking_uri)
    return report
