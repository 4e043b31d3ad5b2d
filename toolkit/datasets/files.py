"""Which files a dataset is read from, and the one digest of their contents.

The digest identifies the data a run measured: the same name and split with edited questions, documents or side
corpus give a different digest, used for the run identity (``ExperimentSpec.spec_hash``) and shown in MLflow next
to the dataset, while moving the files elsewhere does not change it.
"""

import hashlib
from pathlib import Path


def dataset_files(name: str, split: str) -> list[Path]:
    """The files ``load_dataset(name, split)`` reads, questions first, in a stable order (missing ones left out)."""
    from toolkit.datasets import LOADERS

    prefix, _, arg = name.partition(":")
    return [f for f in LOADERS.get(prefix).files(arg, split) if f.is_file()]


def files_digest(files: list[Path]) -> str:
    """SHA-256 over each file's name (relative to the first file's folder) and bytes, in order."""
    digest = hashlib.sha256()
    base = files[0].parent if files else Path()
    for path in files:
        name = path.relative_to(base) if path.is_relative_to(base) else Path(path.name)
        digest.update(f"{name.as_posix()}\0{path.stat().st_size}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def dataset_digest(name: str, split: str) -> str | None:
    """The digest of every file the dataset reads, or None when none exists (loading it then fails clearly) or the
    name is no registered format (questions handed to the runner directly, as tests and notebooks do)."""
    from toolkit.datasets import LOADERS

    if name.partition(":")[0] not in LOADERS:
        return None
    files = dataset_files(name, split)
    return files_digest(files) if files else None
