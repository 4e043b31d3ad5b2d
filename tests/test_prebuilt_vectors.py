"""The packaged corpus vectors: what live MiniLM would compute, checked by digest, used by ingest instead of the model.

Real components: the packaged model (a few chunks embedded live for the comparison) and embedded chromadb.
"""

import json
import random
import shutil

import numpy as np
import pytest

from toolkit.datasets import load_dataset
from toolkit.retrieval import prebuilt
from toolkit.retrieval.embeddings import embed, text_key
from toolkit.retrieval.index import chunks_for
from toolkit.retrieval.settings import RetrieverSettings


@pytest.fixture(scope="module")
def texts() -> list[str]:
    data = load_dataset("factbook", "dev")
    return [c.text for d in sorted(data.documents) for c in chunks_for(d, data.documents[d], RetrieverSettings())]


def test_every_chunk_of_the_packaged_corpus_has_its_live_vector(texts):
    table = prebuilt.table()
    assert len(texts) == 13443 and all(prebuilt.key_prefix(text_key(t)) in table for t in texts)
    sample = random.Random(7).sample(texts, 8)
    live = np.asarray(embed(sample))
    shipped = np.asarray(list(prebuilt.lookup([text_key(t) for t in sample]).values()))
    assert np.allclose((live * shipped).sum(axis=1), 1.0, atol=1e-4)  # float16 storage: cosine 0.9999+


def test_a_file_that_fails_its_digest_is_ignored(tmp_path, texts):
    folder = tmp_path / "vectors"
    keys = [text_key(t) for t in texts[:3]]
    prebuilt.write(keys, embed(texts[:3]), folder)
    assert len(prebuilt.table(folder)) == 3
    keys_with_zero = [k for k in (text_key(str(i)) for i in range(2000)) if prebuilt.key_prefix(k).endswith(b"\0")]
    prebuilt.write(keys_with_zero[:1], [[0.1] * 384], folder)  # a hash ending in a zero byte survives the round trip
    assert list(prebuilt.table(folder)) == [prebuilt.key_prefix(keys_with_zero[0])]
    tampered = tmp_path / "tampered"
    shutil.copytree(folder, tampered)
    meta = json.loads((tampered / prebuilt.MANIFEST).read_text())
    (tampered / prebuilt.MANIFEST).write_text(json.dumps({**meta, "sha256": "0" * 64}))
    with pytest.warns(UserWarning, match="does not match the SHA-256"):
        assert prebuilt.table(tampered) == {}
    (tampered / prebuilt.MANIFEST).write_text(json.dumps({**meta, "model_sha256": "1" * 64}))
    prebuilt.table.cache_clear()
    with pytest.warns(UserWarning, match="another version of the embedding model"):
        assert prebuilt.table(tampered) == {}


def test_ingest_uses_the_shipped_vectors_and_embeds_only_what_changed(tmp_path, monkeypatch):
    from toolkit.retrieval.index import ingest

    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "home"))
    data = load_dataset("factbook", "dev")
    settings = RetrieverSettings(persist_dir=str(tmp_path / "chroma"))
    docs = {d: data.documents[d] for d in ("fr", "gm")}
    report = ingest(settings, docs, progress=False)
    assert report.chunks_embedded == 0 and report.total_chunks == report.chunks_written > 100
    edited = {**docs, "fr": docs["fr"] + "\n\n## Note\n\nA paragraph no shipped vector covers.\n"}
    report = ingest(settings, edited, progress=False)
    assert report.updated_docs == 1 and report.chunks_embedded == 1  # only the new chunk reaches the model
    report = ingest(settings, {"fr": edited["fr"]}, progress=False, prune=True)  # gm left the corpus
    assert report.removed_docs == 1 and report.chunks_written == 0
    assert report.total_chunks == len(chunks_for("fr", edited["fr"], settings))
