"""Which files a dataset is read from, and one digest of their contents.

The digest identifies the data a run measured: the same name and split with edited questions or documents give a
different digest (shown in MLflow next to the dataset), while moving the files elsewhere does not change it.
"""

import hashlib
from pathlib import Path

from toolkit.datasets.loaders import FACTBOOK_DIR


def dataset_files(name: str, split: str) -> list[Path]:
    """The files ``load_dataset(name, split)`` reads, questions first, in a stable order (missing ones left out)."""
    prefix, _, arg = name.partition(":")
    root = Path(arg) if arg else None
    if prefix == "factbook":
        root = root or FACTBOOK_DIR
        files = [root / "questions" / f"{split}.jsonl", *sorted((root / "docs").glob("*.md"))]
    elif prefix == "jsonl":
        files = [root, root.with_name(root.name.removesuffix(".jsonl") + ".corpus.jsonl")]
    elif prefix == "beir":
        files = [root / "queries.jsonl", root / "qrels" / f"{split}.tsv", root / "corpus.jsonl"]
    elif root is not None:
        files = [root]
    else:
        files = []
    return [f for f in files if f.is_file()]


def files_digest(files: list[Path]) -> str:
    """SHA-256 over each file's name (relative to the first file's folder) and bytes, in order."""
    digest = hashlib.sha256()
    base = files[0].parent if files else Path()
    for path in files:
        name = path.relative_to(base) if path.is_relative_to(base) else Path(path.name)
        digest.update(f"{name.as_posix()}\0{path.stat().st_size}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
