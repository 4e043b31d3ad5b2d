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


__all__ = ["LOADERS", "Dataset", "DatasetError", "load_dataset", "sample", "with_distractors"]
