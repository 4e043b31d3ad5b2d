"""Question sets with their corpora: the built-in Factbook set and bring-your-own-data loaders.

``load_dataset("factbook", "dev")``, ``load_dataset("jsonl:/path/qa.jsonl")``, ``load_dataset("squad:/path/dev.json")``,
``load_dataset("beir:/path/scifact", "test")``. Add a format with ``LOADERS.register(prefix, "module:function")``;
the function takes ``(arg, split)`` and returns a ``Dataset``.
"""

from toolkit.datasets.base import Dataset, DatasetError, sample, with_distractors
from toolkit.registry import Registry

LOADERS = Registry("dataset loader")
LOADERS.register("factbook", "toolkit.datasets.loaders:load_factbook")
LOADERS.register("jsonl", "toolkit.datasets.loaders:load_jsonl")
LOADERS.register("squad", "toolkit.datasets.loaders:load_squad")
LOADERS.register("beir", "toolkit.datasets.loaders:load_beir")

DEFAULT_SPLITS = {"factbook": "dev", "beir": "test"}


def load_dataset(name: str = "factbook", split: str | None = None) -> Dataset:
    """Load ``name`` (a registered dataset, or ``<format>:<path>``); ``split`` defaults per format."""
    prefix, _, arg = name.partition(":")
    loader = LOADERS.get(prefix)
    if prefix != "factbook" and not arg:
        raise ValueError(f"dataset {name!r} needs a path: use '{prefix}:/path/to/data'.")
    return loader(arg, split or DEFAULT_SPLITS.get(prefix, "all"))


def source_digest(name: str) -> str | None:
    """SHA-256 (16 hex) of the file or folder a bring-your-own dataset ``<format>:<path>`` reads, or None for a
    built-in dataset (versioned with the package) or a path that does not exist (loading it fails clearly).

    Part of a run's identity: editing the file and rerunning starts a new run instead of mixing answers to the old
    questions with the new ones.
    """
    import hashlib
    from pathlib import Path

    prefix, _, arg = name.partition(":")
    if not arg:
        return None
    path = Path(arg)
    if not path.exists():
        return None
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else "").encode() + b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


__all__ = ["LOADERS", "Dataset", "DatasetError", "load_dataset", "sample", "source_digest", "with_distractors"]
