"""Reading runs back (the Compare panel, the planner, notebooks) and small writes to runs that already exist."""

from toolkit import paths
from toolkit.tracking.client import client_for, log_metrics, log_params
from toolkit.tracking.metrics import parse_interval
from toolkit.tracking.tables import ARM_TABLE


def load_runs(
    experiment: str | None = None,
    *,
    tracking_uri: str | None = None,
    parent_run_id: str | None = None,
    kind: str = "arm",
    current: bool = True,
):
    """Runs as a pandas DataFrame (one row per run, ``metrics.*``/``params.*``/``tags.*`` columns).

    ``kind="arm"`` gives child runs (one per arm), ``"experiment"`` parent runs; filter by experiment name and/or
    a parent run id. Metric columns carry grouped names: ``metrics.quality/accuracy`` (see ``metric_key``).
    ``current`` leaves out runs a later invocation of the same run folder superseded (a resumed experiment).
    """
    import mlflow

    client_for(tracking_uri)
    filters = [f"tags.`tierlab.kind` = '{kind}'"]
    if parent_run_id:
        filters.append(f"tags.`mlflow.parentRunId` = '{parent_run_id}'")
    names = [experiment] if experiment else None
    runs = mlflow.search_runs(
        experiment_names=names,
        search_all_experiments=names is None,
        filter_string=" and ".join(filters),
        output_format="pandas",
    )
    column = "tags.tierlab.superseded_by"
    if current and column in runs:
        runs = runs[runs[column].isna()].reset_index(drop=True)
    return runs


def search_traces(run_id: str, *, tracking_uri: str | None = None):
    """The traces (``mlflow.entities.Trace``) logged for one arm's run, after flushing the async export."""
    import mlflow

    client = client_for(tracking_uri)
    mlflow.flush_trace_async_logging()
    run = client.get_run(run_id)
    return mlflow.search_traces(locations=[run.info.experiment_id], run_id=run_id, return_type="list")


def run_url(run_id: str, *, tracking_uri: str | None = None) -> str:
    """Where a reviewer opens the run: the server URL for an http store, else the local ``mlflow ui`` URL."""
    client = client_for(tracking_uri)
    run = client.get_run(run_id)
    uri = tracking_uri or paths.mlflow_uri()
    base = uri.rstrip("/") if uri.startswith("http") else "http://127.0.0.1:5000"
    return f"{base}/#/experiments/{run.info.experiment_id}/runs/{run_id}"


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
    report attached to the runs it used. Params already logged are skipped (MLflow forbids changing a param);
    metrics are logged as a new step so a later review does not erase the automatic value.
    """
    client = client_for(tracking_uri)
    if params:
        existing = client.get_run(run_id).data.params
        fresh = {k: v for k, v in params.items() if k not in existing}
        if fresh:
            log_params(client, run_id, fresh)
    if metrics:
        log_metrics(client, run_id, metrics)
    for name, content in (texts or {}).items():
        client.log_text(run_id, content, name)
    for path in files or []:
        client.log_artifact(run_id, path)


def load_question_table(run_id: str, *, tracking_uri: str | None = None):
    """The per-question table (``questions.json``) an arm's run logged, as a DataFrame (empty if it has none)."""
    import pandas as pd

    client = client_for(tracking_uri)
    names = {f.path for f in client.list_artifacts(run_id)}
    if ARM_TABLE not in names:
        return pd.DataFrame()
    experiment_id = client.get_run(run_id).info.experiment_id
    return client.load_table(experiment_id, ARM_TABLE, run_ids=[run_id])


OVERVIEW = {
    "quality/accuracy": "accuracy", "hallucination/rate": "hallucination",
    "cost/total_usd_per_1k_questions": "usd_per_1k_questions", "cost/total_usd_per_1k_correct": "usd_per_1k_correct",
    "latency/p50_s": "latency_p50_s", "usage/answered": "answered",
}


def arm_intervals(run) -> dict[str, tuple[float, float, float, int]]:
    """An arm run's logged intervals (its ``ci/…`` params) by logged metric name: (value, low, high, n)."""
    prefix = "params.ci/"
    return {column.removeprefix(prefix): parsed for column, value in run.items()
            if column.startswith(prefix) and (parsed := parse_interval(value))}


def arm_overview(parent_run_id: str, *, tracking_uri: str | None = None):
    """One row per arm of an experiment run with what a reviewer asks first: how good (accuracy with its CI,
    hallucination), at what cost ($ per 1,000 questions and per 1,000 correct answers), whether it is
    significantly different (``tierlab.significant.*`` tags) and what wrote the answers — read from MLflow alone."""
    import pandas as pd

    runs = load_runs(parent_run_id=parent_run_id, tracking_uri=tracking_uri)
    rows = []
    for _, run in runs.iterrows():
        row = {"arm": run.get("tags.mlflow.runName")}
        row |= {short: run.get(f"metrics.{name}") for name, short in OVERVIEW.items()}
        _, row["accuracy_low"], row["accuracy_high"], _ = arm_intervals(run).get("quality/accuracy", (None,) * 4)
        row["significant"] = "; ".join(
            f"{column.removeprefix('tags.tierlab.significant.')}: {value}"
            for column, value in run.items()
            if column.startswith("tags.tierlab.significant.") and isinstance(value, str) and value
        )
        row["answered_by"] = run.get("params.answered_by")
        rows.append(row)
    return pd.DataFrame(rows).sort_values("usd_per_1k_questions", ignore_index=True) if rows else pd.DataFrame()


def answer_traces(run_id: str, *, tracking_uri: str | None = None):
    """An arm's traces as a table (question, verdict tags, tokens, duration, trace id), for filtering in pandas
    what the MLflow Traces tab filters with ``tags.correct = 'false'``."""
    import pandas as pd

    rows = []
    for trace in search_traces(run_id, tracking_uri=tracking_uri):
        tags = trace.info.tags
        rows.append({
            "question_id": tags.get("question_id"), "correct": tags.get("correct"),
            "verdict": tags.get("verdict"), "cached": tags.get("cached"),
            "tokens": (trace.info.token_usage or {}).get("total_tokens"),
            "duration_ms": trace.info.execution_duration, "trace_id": trace.info.trace_id,
        })
    return pd.DataFrame(rows)
