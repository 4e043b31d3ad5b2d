"""Question sets with their corpora: the built-in Factbook set and bring-your-own-data loaders.

``load_dataset("factbook", "dev")``, ``load_dataset("jsonl:/path/qa.jsonl")``, ``load_dataset("squad:/path/dev.json")``,
``load_dataset("beir:/path/scifact", "test")``. Add a format with one ``LOADERS.register(prefix, "module:FORMAT")``, where
``FORMAT = DatasetFormat(load, files)``: ``load(arg, split)`` returns a ``Dataset``, ``files(arg, split)`` lists the
files it reads (the dataset digest, ``toolkit.datasets.files``).
"""

from toolkit.datasets.base import Dataset, DatasetError, DatasetFormat, sample, sample_from, with_distractors
from toolkit.registry import Registry

LOADERS = Registry("dataset loader")
LOADERS.register("factbook", "toolkit.datasets.loaders:FACTBOOK")
LOADERS.register("jsonl", "toolkit.datasets.loaders:JSONL")
LOADERS.register("squad", "toolkit.datasets.loaders:SQUAD")
LOADERS.register("beir", "toolkit.datasets.loaders:BEIR")

DEFAULT_SPLITS = {"factbook": "dev", "beir": "test"}


def load_dataset(name: str = "factbook", split: str | None = None) -> Dataset:
    """Load ``name`` (a registered dataset, or ``<format>:<path>``); ``split`` defaults per format."""
    prefix, _, arg = name.partition(":")
    data_format = LOADERS.get(prefix)
    if prefix != "factbook" and not arg:
        raise ValueError(f"dataset {name!r} needs a path: use '{prefix}:/path/to/data'.")
    return data_format.load(arg, split or DEFAULT_SPLITS.get(prefix, "all"))


__all__ = [
    "LOADERS", "Dataset", "DatasetError", "DatasetFormat", "load_dataset", "sample", "sample_from", "with_distractors",
]
