"""Reading runs back (the Compare panel, the planner, notebooks) and small writes to runs that already exist."""

from toolkit import paths
from toolkit.tracking.client import client_for, log_metrics, log_params
from toolkit.tracking.tables import ARM_TABLE


def load_runs(
    experiment: str | None = None,
    *,
    tracking_uri: str | None = None,
    parent_run_id: str | None = None,
    kind: str = "arm",
):
    """Runs as a pandas DataFrame (one row per run, ``metrics.*``/``params.*``/``tags.*`` columns).

    ``kind="arm"`` gives child runs (one per arm), ``"experiment"`` parent runs; filter by experiment name and/or
    a parent run id. Metric columns carry grouped names: ``metrics.quality/accuracy`` (see ``metric_key``).
    """
    import mlflow

    client_for(tracking_uri)
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
