"""Retrieval benchmark: ingest throughput vs the raw embedding model, and query latency over REAL chunk embeddings.

    .venv/bin/python benchmarks/bench_retrieval.py [--docs 1] [--chunks 0 (all)] [--embed-budget-s -1]

1. Ingest throughput: the chunks of the first ``--docs`` Factbook documents embedded by the raw SentenceTransformer
   (``encode``) and by TierLab's full ``ingest`` (chunking + embedding + chromadb writes) in a fresh TIERLAB_HOME
   (so the vector cache does not help), timed raw / ingest / raw so load drift hits both. Goal: ratio >= 0.8.
2. Query latency: a collection of the whole Factbook corpus (or its first ``--chunks``), each stored with its REAL
   MiniLM vector, never a synthetic one (``synthetic_vectors: 0``). Vectors come from the embedding cache under the TierLab home
   (``<TIERLAB_HOME>/cache/embeddings``, keyed by text hash: the same cache ``ingest`` fills), so a rerun takes
   seconds; chunks not cached yet are embedded for at most ``--embed-budget-s`` seconds (all of them with -1; the
   whole corpus is 13,443 chunks: ~8 min at ~28 chunks/s on 2 quiet AVX-512 cores, 25-40 min on older or busy
   ones) and the rest are left out and counted. Queries are
   the dev questions embedded by the real model through the retriever: p50/p95 of ``retriever.invoke``
   (embedding + search) and of the search alone. Goals: p95 < 50 ms, with >= 10,000 real chunks indexed.
"""

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import report  # noqa: E402


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def cached_vectors(texts: list[str], budget_s: float) -> tuple[list, int]:
    """Real vectors for ``texts`` from the home's embedding cache (None where missing), embedding missing texts in
    batches until ``budget_s`` is spent (-1: no limit). Returns (vectors, newly embedded)."""
    import diskcache

    from toolkit import paths
    from toolkit.retrieval.embeddings import MODEL_NAME, embed

    keys = [hashlib.sha256(f"{MODEL_NAME}\n{t}".encode()).hexdigest() for t in texts]
    started, new = time.monotonic(), 0
    with diskcache.Cache(str(paths.subdir("cache") / "embeddings")) as cache:
        vectors = [cache.get(k) for k in keys]
        missing = [i for i, v in enumerate(vectors) if v is None]
        for s in range(0, len(missing), 64):
            if budget_s >= 0 and time.monotonic() - started > budget_s:
                break
            batch = missing[s: s + 64]
            for i, vector in zip(batch, embed([texts[i] for i in batch]), strict=True):
                cache.set(keys[i], vector)
                vectors[i] = vector
                new += 1
    return vectors, new


def ingest_ratio(docs: int) -> dict:
    from toolkit.datasets import load_dataset
    from toolkit.retrieval.embeddings import embed
    from toolkit.retrieval.index import chunks_for, ingest
    from toolkit.retrieval.settings import RetrieverSettings

    data = load_dataset("factbook", "dev")
    ids = list(data.gold_doc_ids())[:docs]
    documents = {i: data.documents[i] for i in ids}
    settings = RetrieverSettings()
    texts = [c.text for d, t in documents.items() for c in chunks_for(d, t, settings)]
    embed(texts[:8])  # warm-up
    raws = []
    for step in ("raw", "ingest", "raw"):
        start = time.perf_counter()
        if step == "raw":
            embed(texts)
            raws.append(len(texts) / (time.perf_counter() - start))
        else:
            saved = os.environ.get("TIERLAB_HOME")
            os.environ["TIERLAB_HOME"] = tempfile.mkdtemp(prefix="tierlab-bench-ingest-")
            try:
                written = ingest(settings, documents, progress=False).chunks_written
            finally:
                os.environ["TIERLAB_HOME"] = saved or ""
                if saved is None:
                    os.environ.pop("TIERLAB_HOME")
            ours = written / (time.perf_counter() - start)
    raw = statistics.mean(raws)
    return {"docs": docs, "chunks": len(texts), "raw_chunks_per_s": round(raw, 2),
            "ingest_chunks_per_s": round(ours, 2), "ratio": round(ours / raw, 3)}


def query_latency(max_chunks: int, budget_s: float, queries: int) -> dict:
    import numpy as np

    from toolkit.datasets import load_dataset
    from toolkit.retrieval.embeddings import embed
    from toolkit.retrieval.index import chunks_for, collection
    from toolkit.retrieval.retriever import get_retriever
    from toolkit.retrieval.settings import RetrieverSettings

    data = load_dataset("factbook", "dev")
    settings = RetrieverSettings()
    chunks = [c for d in sorted(data.documents) for c in chunks_for(d, data.documents[d], settings)][:max_chunks or None]
    vectors, new = cached_vectors([c.text for c in chunks], budget_s)
    real = [(c, v) for c, v in zip(chunks, vectors, strict=True) if v is not None]
    cache_home = os.environ.get("TIERLAB_HOME", "")
    os.environ["TIERLAB_HOME"] = tempfile.mkdtemp(prefix="tierlab-bench-query-")  # a fresh store, same vectors
    try:
        coll = collection(settings)
        for s in range(0, len(real), 2000):
            batch = real[s: s + 2000]
            coll.add(ids=[c.id for c, _ in batch], documents=[c.text for c, _ in batch],
                     embeddings=np.asarray([v for _, v in batch], dtype=np.float32),
                     metadatas=[{"doc_id": c.doc_id, "section": c.section, "index": c.index, "doc_hash": "bench"}
                                for c, _ in batch])
        retriever = get_retriever(settings)
        questions = [q.question for q in data.questions][:queries]
        retriever.invoke(questions[0])
        full, search = [], []
        for text in questions:
            start = time.perf_counter()
            retriever.invoke(text)
            full.append((time.perf_counter() - start) * 1000)
            qvec = embed([text])
            start = time.perf_counter()
            coll.query(query_embeddings=qvec, n_results=settings.k, include=["documents", "metadatas", "distances"])
            search.append((time.perf_counter() - start) * 1000)
        indexed = coll.count()
    finally:
        os.environ["TIERLAB_HOME"] = cache_home
    return {"corpus_chunks": len(chunks), "chunks_indexed": indexed, "synthetic_vectors": 0,
            "left_out_not_embedded_yet": len(chunks) - len(real), "embedded_this_run": new, "queries": len(questions),
            "invoke_ms": {"p50": round(pct(full, 50), 1), "p95": round(pct(full, 95), 1)},
            "search_only_ms": {"p50": round(pct(search, 50), 1), "p95": round(pct(search, 95), 1)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=1)
    parser.add_argument("--chunks", type=int, default=0, help="index the first N corpus chunks (0: all)")
    parser.add_argument("--embed-budget-s", type=float, default=-1, help="-1: embed every missing chunk")
    parser.add_argument("--queries", type=int, default=60)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    load0 = report.load_average()
    figures = {"ingest": ingest_ratio(args.docs), "query": query_latency(args.chunks, args.embed_budget_s, args.queries)}
    q = figures["query"]
    goals = {"ingest / raw embedder": report.goal(figures["ingest"]["ratio"], ">= 0.8", figures["ingest"]["ratio"] >= 0.8),
             "query p95 ms (retriever.invoke)": report.goal(q["invoke_ms"]["p95"], "< 50", q["invoke_ms"]["p95"] < 50),
             "real chunks indexed": report.goal(q["chunks_indexed"], ">= 10000", q["chunks_indexed"] >= 10_000)}
    headline = [f"{q['chunks_indexed']} real chunk vectors indexed (synthetic 0; {q['left_out_not_embedded_yet']} of "
                f"the corpus's first {q['corpus_chunks']} not embedded yet): invoke p50/p95 {q['invoke_ms']['p50']}/"
                f"{q['invoke_ms']['p95']} ms, search only {q['search_only_ms']['p50']}/{q['search_only_ms']['p95']} ms"]
    report.write("retrieval", figures, goals, load_at_start=load0, headline=headline)


if __name__ == "__main__":
    main()
