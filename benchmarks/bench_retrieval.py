"""Retrieval benchmark: ingest throughput vs the raw embedding model, and query latency at ~10k chunks.

    .venv/bin/python benchmarks/bench_retrieval.py [--docs 3] [--chunks 10000]

1. Ingest throughput: the same chunk texts (the first ``--docs`` Factbook documents) embedded by the raw
   SentenceTransformer (``encode``) vs TierLab's full ``ingest`` (chunking + embedding + chromadb writes), in one run,
   each in a fresh TIERLAB_HOME so the vector cache does not help. Goal: ratio >= 0.8.
2. Query latency: a collection of ``--chunks`` real Factbook chunks. Embedding 10k chunks costs 20-40 min here, so the
   stored vectors are synthesised: each is the real MiniLM vector of one of a few hundred embedded chunks plus small
   noise (unit length), which gives HNSW a realistic size and dimension. Queries are real questions embedded by the
   real model through the retriever. p50/p95 of ``retriever.invoke`` (embedding + search) and of the search alone.
Bounded: a few minutes on 2 cores. Everything stays on local disk; no server is started.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def fresh_home() -> str:
    path = tempfile.mkdtemp(prefix="tierlab_bench_")
    os.environ["TIERLAB_HOME"] = path
    return path


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--seed-chunks", type=int, default=300)
    parser.add_argument("--queries", type=int, default=60)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    import numpy as np

    from toolkit.datasets import load_dataset
    from toolkit.retrieval.embeddings import embed, load_model
    from toolkit.retrieval.index import chunks_for, collection, ingest
    from toolkit.retrieval.retriever import get_retriever
    from toolkit.retrieval.settings import RetrieverSettings

    data = load_dataset("factbook", "dev")
    load_model()
    ids = list(data.gold_doc_ids())[: args.docs]
    documents = {i: data.documents[i] for i in ids}
    settings = RetrieverSettings()
    texts = [c.text for d, t in documents.items() for c in chunks_for(d, t, settings)]
    embed(texts[:8])  # warm-up

    start = time.perf_counter()
    embed(texts)
    raw = len(texts) / (time.perf_counter() - start)
    fresh_home()
    start = time.perf_counter()
    report = ingest(settings, documents, progress=False)
    ours = report.chunks_written / (time.perf_counter() - start)
    print(
        f"ingest: {len(texts)} chunks from {len(ids)} docs; raw model {raw:.2f} chunks/s, "
        f"tierlab ingest {ours:.2f} chunks/s, ratio {ours / raw:.2f} (goal >= 0.8)"
    )

    # --- query latency at ~10k chunks
    fresh_home()
    all_chunks = [c for d in sorted(data.documents) for c in chunks_for(d, data.documents[d], settings)][
        : args.chunks
    ]
    rng = np.random.default_rng(0)
    seed_idx = rng.choice(len(all_chunks), size=min(args.seed_chunks, len(all_chunks)), replace=False)
    start = time.perf_counter()
    seed_vecs = np.asarray(embed([all_chunks[i].text for i in seed_idx]), dtype=np.float32)
    print(f"embedded {len(seed_idx)} seed chunks in {time.perf_counter() - start:.0f}s")
    vectors = seed_vecs[rng.integers(0, len(seed_vecs), size=len(all_chunks))]
    vectors = vectors + rng.normal(0, 0.02, vectors.shape).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    coll = collection(settings)
    for s in range(0, len(all_chunks), 2000):
        batch = all_chunks[s : s + 2000]
        coll.add(
            ids=[c.id for c in batch],
            documents=[c.text for c in batch],
            embeddings=vectors[s : s + 2000].tolist(),
            metadatas=[
                {"doc_id": c.doc_id, "section": c.section, "index": c.index, "doc_hash": "bench"}
                for c in batch
            ],
        )
    retriever = get_retriever(settings)
    questions = [q.question for q in data.questions][: args.queries]
    retriever.invoke(questions[0])
    full, search = [], []
    for text in questions:
        start = time.perf_counter()
        retriever.invoke(text)
        full.append((time.perf_counter() - start) * 1000)
        qvec = embed([text])
        start = time.perf_counter()
        coll.query(query_embeddings=qvec, n_results=5, include=["documents", "metadatas", "distances"])
        search.append((time.perf_counter() - start) * 1000)
    print(
        f"query at {coll.count()} chunks, {len(questions)} queries: retriever.invoke p50 {pct(full, 50):.1f} ms "
        f"p95 {pct(full, 95):.1f} ms; chroma search only p50 {pct(search, 50):.1f} ms p95 {pct(search, 95):.1f} ms "
        f"(goal p95 < 50 ms)"
    )


if __name__ == "__main__":
    main()
