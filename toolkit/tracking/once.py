"""The hook the runner calls with a finished result: log it to MLflow once per content and store.

The runner takes a ``log`` callable instead of importing this package (``tracking`` reads the experiments'
value types, so the arrow runs one way: callers such as the CLI, the UI and the demo pass ``mlflow_logger()``).
Importing this module imports no mlflow: a replay whose content is already logged never loads it.
"""

import json
from collections.abc import Callable
from pathlib import Path

from toolkit import paths

Logger = Callable[..., str]
"""``log(result, run_directory) -> MLflow run id``: what ``run_experiment(log=...)`` calls."""

MARKER = "tracked.json"


def mlflow_logger(tracking_uri: str | None = None) -> Logger:
    """A ``log`` for ``run_experiment``: logs to ``tracking_uri`` (default ``paths.mlflow_uri()``) unless the
    run folder's marker says this exact content is already logged to the same store."""

    def log(result, directory: Path) -> str:
        uri = tracking_uri or paths.mlflow_uri()
        marker = Path(directory) / MARKER
        digest = result.digest()
        if marker.exists():
            seen = json.loads(marker.read_text(encoding="utf-8"))
            if seen.get("digest") == digest and seen.get("uri") == uri:
                return seen["run_id"]
        from toolkit.tracking.runs import log_experiment

        run_id = log_experiment(result, tracking_uri=uri)
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(json.dumps({"digest": digest, "uri": uri, "run_id": run_id}, indent=2), encoding="utf-8")
        tmp.replace(marker)
        return run_id

    return log
