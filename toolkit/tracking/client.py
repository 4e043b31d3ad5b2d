"""The MLflow client and batched writes shared by the tracking modules (the only place a client is made)."""

import time
from pathlib import Path

from toolkit import paths
from toolkit.tracking.params import safe_params

METRICS_PER_BATCH = 900
PARAMS_PER_BATCH = 90


def client_for(tracking_uri: str | None):
    import mlflow
    from mlflow import MlflowClient

    uri = tracking_uri or paths.mlflow_uri()
    mlflow.set_tracking_uri(uri)  # traces and assessments go through the global tracer, which reads this
    return MlflowClient(tracking_uri=uri)


def create_experiment(client, name: str) -> str:
    """With a local SQLite store, keep artifacts beside the database; MLflow's default is ``./mlruns`` of whatever
    folder the process happens to run in (a notebook's folder, the repo root)."""
    location = None
    if client.tracking_uri.startswith("sqlite:///"):
        database = Path(client.tracking_uri.removeprefix("sqlite:///"))
        location = (database.parent / "mlartifacts" / paths.safe_name(name)).resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)


def log_metrics(client, run_id: str, values: dict[str, float], step: int = 0) -> None:
    """Finite values only (NaN and None are dropped: MLflow charts cannot show them)."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [Metric(k, float(v), now, step) for k, v in values.items() if v is not None and float(v) == float(v)]
    for start in range(0, len(metrics), METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + METRICS_PER_BATCH])


def log_params(client, run_id: str, params: dict, secrets=None) -> None:
    """Params as JSON-ish strings with secrets masked (see ``params.safe_params``)."""
    from mlflow.entities import Param

    items = [Param(k, v) for k, v in safe_params(params, secrets).items()]
    for start in range(0, len(items), PARAMS_PER_BATCH):
        client.log_batch(run_id, params=items[start : start + PARAMS_PER_BATCH])
