"""MLflow logging: the only module that imports mlflow.

One parent run per experiment and one child run per arm, created and written through an explicit ``MlflowClient``
with run ids passed around (never a hidden global active run, so threads and notebooks cannot cross-log). The
default store is the local SQLite file from ``paths.mlflow_uri()``; point ``tracking_uri`` (or
``$MLFLOW_TRACKING_URI``) at a real ``mlflow server`` to share runs. Nothing secret is logged: spec params are
filtered for key-like names, and answers never contain keys.
"""

import json
import re
import time
from datetime import datetime
from pathlib import Path

from toolkit import paths
from toolkit.experiments.report import hallucination_figure, pareto_figure, summary_markdown
from toolkit.experiments.results import ExperimentResult, question_row

_SECRET = re.compile(r"key|token|secret|password|auth", re.I)
MAX_TRACES_PER_ARM = 100
DIGEST_TAG = "tierlab.digest"


def _client(tracking_uri: str | None):
    import mlflow
    from mlflow import MlflowClient

    uri = tracking_uri or paths.mlflow_uri()
    mlflow.set_tracking_uri(uri)  # traces are exported through the global tracer, which reads this
    return MlflowClient(tracking_uri=uri)


def _create_experiment(client, name: str) -> str:
    """With a local SQLite store, keep artifacts beside the database; MLflow's default is ``./mlruns`` of whatever
    folder the process happens to run in (a notebook's folder, the repo root)."""
    location = None
    if client.tracking_uri.startswith("sqlite:///"):
        database = Path(client.tracking_uri.removeprefix("sqlite:///"))
        location = (database.parent / "mlartifacts" / name).resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)


def _safe(params: dict) -> dict:
    return {k: ("***" if _SECRET.search(k) else v) for k, v in params.items()}


def _catalog_version() -> str:
    try:
        from toolkit.providers import load_catalog

        return str(load_catalog().version)
    except Exception:  # the catalog is optional for logging
        return "unknown"


def _metrics(arm) -> dict[str, float]:
    values = {}
    for name, interval in arm.metrics.items():
        if interval is not None:
            values |= {
                name: interval.value,
                f"{name}_ci_low": interval.low,
                f"{name}_ci_high": interval.high,
                f"{name}_n": interval.n,
            }
    values |= {k: float(v) for k, v in arm.cost.items() if v is not None}
    values |= {"answered": arm.answered, "planned": arm.planned}
    return values


def _log_metrics(client, run_id: str, values: dict[str, float]) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [
        Metric(key, float(value), now, 0) for key, value in values.items() if value == value
    ]  # drop NaN
    for start in range(0, len(metrics), 900):
        client.log_batch(run_id, metrics=metrics[start : start + 900])


def _log_params(client, run_id: str, params: dict) -> None:
    from mlflow.entities import Param

    items = [Param(k, str(v)[:6000]) for k, v in _safe(params).items()]
    for start in range(0, len(items), 90):
        client.log_batch(run_id, params=items[start : start + 90])


def _log_traces(client, experiment_id: str, run_id: str, records) -> list[str]:
    """One trace per answer: a root span for the question, a child span per method step (prompt in, output out)."""
    trace_ids = []
    for record in records[:MAX_TRACES_PER_ARM]:
        end_ns = int(datetime.fromisoformat(record.finished_at).timestamp() * 1e9)
        start_ns = end_ns - int(record.latency_s * 1e9)
        root = client.start_trace(
            name=f"{record.method}:{record.question.id}",
            span_type="CHAIN",
            inputs={"question": record.question.question},
            tags={"arm": record.arm, "question_id": record.question.id},
            experiment_id=experiment_id,
            start_time_ns=start_ns,
            run_id=run_id,
        )
        cursor = start_ns
        for step in record.answer.steps:
            span = client.start_span(
                name=step.name,
                trace_id=root.trace_id,
                parent_id=root.span_id,
                span_type="RETRIEVER" if step.name.startswith("retrieve") else "CHAT_MODEL",
                inputs={"prompt": step.prompt},
                attributes={"provider": step.provider, **step.usage.model_dump()},
                start_time_ns=cursor,
            )
            cursor += int(step.usage.latency_s * 1e9)
            client.end_span(
                root.trace_id, span.span_id, outputs={"output": step.output}, end_time_ns=min(cursor, end_ns)
            )
        client.end_trace(
            root.trace_id,
            outputs={"answer": record.answer.text, "hallucinated": record.verdict.hallucinated},
            end_time_ns=max(end_ns, cursor),
        )
        trace_ids.append(root.trace_id)
    return trace_ids


def log_experiment(result: ExperimentResult, *, tracking_uri: str | None = None, traces: bool = True) -> str:
    """Log ``result`` (parent run + one child run per arm); returns the parent run id.

    If the same content was logged before (same spec and answers), the existing parent run id is returned.
    """
    import mlflow

    client = _client(tracking_uri)
    spec = result.spec
    experiment = client.get_experiment_by_name(spec.name)
    experiment_id = experiment.experiment_id if experiment else _create_experiment(client, spec.name)
    digest = result.digest()
    existing = client.search_runs(
        [experiment_id], filter_string=f"tags.`{DIGEST_TAG}` = '{digest}'", max_results=1
    )
    if existing:
        return existing[0].info.run_id

    parent = client.create_run(
        experiment_id,
        run_name=f"{spec.name} ({result.run_key})",
        tags={DIGEST_TAG: digest, "tierlab.run_key": result.run_key, "tierlab.kind": "experiment"},
    )
    parent_id = parent.info.run_id
    prompt_versions = sorted(
        {
            str(r.answer.details.get("prompt_version"))
            for r in result.records
            if r.answer.details.get("prompt_version")
        }
    )
    _log_params(
        client,
        parent_id,
        {
            "dataset": spec.dataset,
            "split": spec.split,
            "sample_size": spec.sample_size,
            "seed": spec.seed,
            "kinds": spec.kinds,
            "providers": [p.id for p in spec.providers],
            "methods": [m.name for m in spec.methods],
            "judge": spec.judge.provider,
            "retriever": json.dumps(spec.retriever, sort_keys=True),
            "spec_hash": spec.spec_hash(),
            "catalog_version": _catalog_version(),
            "prompt_versions": prompt_versions,
            "confidence": spec.confidence,
        },
    )
    _log_metrics(
        client,
        parent_id,
        {
            "arms": len(result.arms),
            "answers": len(result.records),
            "network_calls": result.network_calls,
            "errors": len(result.errors),
        },
    )
    client.log_text(parent_id, spec.to_yaml(), "spec.yaml")
    client.log_text(parent_id, summary_markdown(result), "summary.md")
    client.log_table(parent_id, result.questions_frame(), "questions.json")
    if result.comparisons:
        import pandas as pd

        client.log_table(
            parent_id, pd.DataFrame([t.model_dump() for t in result.comparisons]), "paired_tests.json"
        )
    for name, make in (
        ("plots/accuracy_vs_cost.png", pareto_figure),
        ("plots/hallucination_by_method.png", hallucination_figure),
    ):
        figure = make(result)
        client.log_figure(parent_id, figure, name)
        import matplotlib.pyplot as plt

        plt.close(figure)

    providers = {p.name: p for p in spec.providers}
    methods = {m.arm_name: m for m in spec.methods}
    for arm in result.arms:
        child = client.create_run(
            experiment_id,
            run_name=arm.arm,
            tags={
                "mlflow.parentRunId": parent_id,
                "tierlab.kind": "arm",
                "tierlab.arm": arm.arm,
                "tierlab.run_key": result.run_key,
            },
        )
        child_id = child.info.run_id
        provider, method = providers[arm.provider], methods[arm.method]
        records = [r for r in result.records if r.arm == arm.arm]
        _log_params(
            client,
            child_id,
            {
                "provider": provider.id,
                "emulated": provider.emulate,
                "method": method.name,
                "method_options": json.dumps(method.options, sort_keys=True),
                **{f"model.{k}": v for k, v in provider.params.items()},
                "prompt_versions": sorted(
                    {
                        str(r.answer.details.get("prompt_version"))
                        for r in records
                        if r.answer.details.get("prompt_version")
                    }
                ),
                "stopped": arm.stopped or "",
            },
        )
        _log_metrics(client, child_id, _metrics(arm))
        if records:
            import pandas as pd

            client.log_table(
                child_id, pd.DataFrame([question_row(r, spec.metrics) for r in records]), "questions.json"
            )
            if traces:
                _log_traces(client, experiment_id, child_id, records)
        client.set_terminated(child_id, "FINISHED" if not arm.stopped else "KILLED")
    if traces:
        mlflow.flush_trace_async_logging()
    client.set_terminated(parent_id, "FINISHED")
    return parent_id


def load_runs(
    experiment: str | None = None,
    *,
    tracking_uri: str | None = None,
    parent_run_id: str | None = None,
    kind: str = "arm",
):
    """Runs as a pandas DataFrame (one row per run, ``metrics.*``/``params.*``/``tags.*`` columns).

    ``kind="arm"`` gives child runs (one per arm), ``"experiment"`` parent runs; filter by experiment name and/or
    a parent run id.
    """
    import mlflow

    _client(tracking_uri)
    filters = [f"tags.`tierlab.kind` = '{kind}'"]
    if parent_run_id:
        filters.append(f"tags.`mlflow.parentRunId` = '{parent_run_id}'")
    names = [experiment] if experiment else None
    return mlflow.search_runs(
        experiment_names=names,
        search_all_experiments=names is None,
        filter_string=" and ".join(filters),
        output_format="pandas",
    )


def search_traces(run_id: str, *, tracking_uri: str | None = None):
    """The traces (``mlflow.entities.Trace``) logged for one arm's run, after flushing the async export."""
    import mlflow

    client = _client(tracking_uri)
    mlflow.flush_trace_async_logging()
    run = client.get_run(run_id)
    return mlflow.search_traces(locations=[run.info.experiment_id], run_id=run_id, return_type="list")


def run_url(run_id: str, *, tracking_uri: str | None = None) -> str:
    """Where a reviewer opens the run: the server URL for an http store, else the local ``mlflow ui`` URL."""
    client = _client(tracking_uri)
    run = client.get_run(run_id)
    uri = tracking_uri or paths.mlflow_uri()
    base = uri.rstrip("/") if uri.startswith("http") else "http://127.0.0.1:5000"
    return f"{base}/#/experiments/{run.info.experiment_id}/runs/{run_id}"


# --- Added by the strategies/planner area (helper H): small writes to runs that already exist. -------------------
def log_to_run(
    run_id: str,
    *,
    params: dict | None = None,
    metrics: dict[str, float] | None = None,
    texts: dict[str, str] | None = None,
    files: list[str] | None = None,
    tracking_uri: str | None = None,
) -> None:
    """Add params, metrics, text artifacts (name -> content) and files to an existing run.

    Used for strategy params/metrics on arm runs, the "reviewed" accuracy after human review, and the planner's
    report attached to the runs it used. Params already logged with the same value are skipped (MLflow forbids
    changing a param); metrics are logged as a new step so a later review does not erase the automatic value.
    """
    client = _client(tracking_uri)
    if params:
        existing = client.get_run(run_id).data.params
        fresh = {k: v for k, v in _safe(params).items() if k not in existing}
        if fresh:
            _log_params(client, run_id, fresh)
    if metrics:
        _log_metrics(client, run_id, metrics)
    for name, content in (texts or {}).items():
        client.log_text(run_id, content, name)
    for path in files or []:
        client.log_artifact(run_id, path)


# --- Added by the notebook area (helper G): per-question tables back for the Compare panel's paired tests. --------
def load_question_table(run_id: str, *, tracking_uri: str | None = None):
    """The per-question table (``questions.json``) an arm's run logged, as a DataFrame (empty if it has none)."""
    import pandas as pd

    client = _client(tracking_uri)
    names = {f.path for f in client.list_artifacts(run_id)}
    if "questions.json" not in names:
        return pd.DataFrame()
    experiment_id = client.get_run(run_id).info.experiment_id
    return client.load_table(experiment_id, "questions.json", run_ids=[run_id])
