"""Where TierLab keeps its state on disk.

Everything lives under one home directory so a user (or a test) can move or wipe it in one place:
``$TIERLAB_HOME`` (default ``~/.tierlab``). Prepared models can be shared between homes through
``$TIERLAB_MODELS`` because converting them is the slow part.
"""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def home() -> Path:
    path = Path(os.environ.get("TIERLAB_HOME", Path.home() / ".tierlab")).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def subdir(name: str) -> Path:
    """A named folder under the home (``cache``, ``quota``, ``runs``, ``chroma``, ``serve`` …)."""
    path = home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    path = Path(os.environ.get("TIERLAB_MODELS", home() / "models")).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def mlflow_uri() -> str:
    """The tracking URI: ``$MLFLOW_TRACKING_URI`` if set, else a SQLite store under the home."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home() / 'mlflow.db'}"
