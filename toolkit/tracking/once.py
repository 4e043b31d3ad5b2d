"""The hook the runner calls with a finished result: log it to MLflow once per content and store.

The runner takes a ``log`` callable instead of importing this package (``tracking`` reads the experiments'
value types, so the arrow runs one way: callers such as the CLI, the UI and the demo pass ``mlflow_logger()``).
Importing this module imports no mlflow. A replay whose content the marker says is logged asks MLflow whether that
run is still there and complete: one deleted in MLflow, or left RUNNING by a crash while logging, is logged again.
"""

import json
import warnings
from pathlib import Path

from toolkit import paths

MARKER = "tracked.json"


class TrackingUnreachable(RuntimeError):
    """The MLflow tracking server a run would log to does not answer; the message names it and the fixes."""


class MlflowLogger:
    """A ``log`` for ``run_experiment``: logs to ``tracking_uri`` (default ``paths.mlflow_uri()``) unless the run
    folder's marker says this exact content is already logged to the same store and MLflow still holds it."""

    def __init__(self, tracking_uri: str | None = None):
        self.tracking_uri = tracking_uri

    @property
    def uri(self) -> str:
        return self.tracking_uri or paths.mlflow_uri()

    def check(self) -> None:
        """Called before the run creates anything: an ``http(s)://`` tracking server must answer ``/health`` (a
        local SQLite store needs no server), else one clear ``TrackingUnreachable`` instead of a traceback at the
        end."""
        import urllib.error
        import urllib.request
        from urllib.parse import urlsplit

        if urlsplit(self.uri).scheme not in ("http", "https"):
            return
        try:
            with urllib.request.urlopen(f"{self.uri.rstrip('/')}/health", timeout=5) as answer:
                if answer.status == 200:
                    return
                problem = f"HTTP {answer.status}"
        except (urllib.error.URLError, OSError, ValueError) as error:
            problem = f"{type(error).__name__}: {getattr(error, 'reason', error)}"
        raise TrackingUnreachable(f"MLflow tracking server {self.uri} is not reachable ({problem}). Start it, fix "
                          "--tracking-uri (or $MLFLOW_TRACKING_URI), or run with --no-track; nothing was run.")

    def __call__(self, result, directory: Path) -> str:
        uri = self.uri
        marker = Path(directory) / MARKER
        digest = result.digest()
        seen = json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else {}
        if seen.get("digest") == digest and seen.get("uri") == uri:
            from toolkit.tracking.runs import logged_run

            if logged_run(seen["run_id"], uri):  # MLflow still holds it, complete
                return seen["run_id"]
            warnings.warn(f"MLflow run {seen['run_id']} logged earlier for this run folder is gone (deleted in "
                          "MLflow) or was never finished; logging it afresh.", stacklevel=2)
        from toolkit.tracking.runs import log_experiment

        run_id = log_experiment(result, tracking_uri=uri)
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(json.dumps({"digest": digest, "uri": uri, "run_id": run_id}, indent=2), encoding="utf-8")
        tmp.replace(marker)
        return run_id


def mlflow_logger(tracking_uri: str | None = None) -> MlflowLogger:
    """The ``log`` to pass to ``run_experiment`` (``MlflowLogger``)."""
    return MlflowLogger(tracking_uri)
