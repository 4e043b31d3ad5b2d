"""Where TierLab keeps its state on disk.

Everything lives under one home directory so a user (or a test) can move or wipe it in one place:
``$TIERLAB_HOME`` (default ``~/.tierlab``). Prepared models can be shared between homes through
``$TIERLAB_MODELS`` because converting them is the slow part.
"""

import hashlib
import os
import re
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


def safe_name(text: str, limit: int = 60) -> str:
    """``text`` as one safe path component: letters, digits and ``_.-`` only, no leading dot (never ``..``).

    Any name a user gives (experiment, workload, arm, label) goes through here before it becomes a file or folder
    name, an MLflow artifact location or an artifact path. A changed name gets a short hash of the original, so two
    names that clean up alike (``a/b``, ``a-b``) still get two places."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:limit].rstrip("-.") or "unnamed"
    if slug == text:
        return slug
    return f"{slug}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def models_dir() -> Path:
    path = Path(os.environ.get("TIERLAB_MODELS", home() / "models")).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def mlflow_uri() -> str:
    """The tracking URI: ``$MLFLOW_TRACKING_URI`` if set, else a SQLite store under the home."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home() / 'mlflow.db'}"
