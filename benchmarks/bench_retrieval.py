"""Retrieval benchmark: ingest throughput vs the raw embedding model, and query latency over REAL chunk embeddings.

    .venv/bin/python benchmarks/bench_retrieval.py [--docs 1] [--chunks 0 (all)] [--embed-budget-s -1]

1. Ingest throughput: the chunks of the first ``--docs`` Factbook documents embedded by the raw SentenceTransformer
   (``encode``) and by TierLab's full ``ingest`` (chunking + embedding + chromadb writes) in a fresh TIERLAB_HOME
   (so the vector cache does not help), timed raw / ingest / raw so load drift hits both. Goal: ratio >= 0.8.
2. Query latency: a collection of the whole Factbook corpus (or its first ``--chunks``), each stored with its REAL
   MiniLM vector, never a synthetic one (``synthetic_vectors: 0``). Vectors come from the embedding cache under the TierLab home
   (``<TIERLAB_HOME>/cache/embeddings``, keyed by text hash: the same cache ``ingest`` fills) or the vectors shipped with
   the corpus (``rag_corpus/vectors/``, checked by digest), so a rerun takes
   seconds; chunks not cached yet are embedded for at most ``--embed-budget-s`` seconds (all of them with -1; the
   whole corpus is 13,443 chunks: ~8 min at ~28 chunks/s on 2 quiet AVX-512 cores, 25-40 min on older or busy
   ones) and the rest are left out and counted. Queries are
   the dev questions embedded by the real model through the retriever: p50/p95 of ``retriever.invoke``
   (embedding + search) and of the search alone. Goals: p95 < 50 ms, with >= 10,000 real chunks indexed.
3. Retrieval quality on the same whole-corpus index: recall@k of the gold documents and MRR over the Factbook
   questions (dev and test splits; ``--limit N`` asks only the first N questions of each), per question kind, and
   the relevance threshold: the 10th percentile of the best chunk's score over the answerable TEST questions
   (``RELEVANCE_THRESHOLD`` in ``toolkit/retrieval/settings.py``), with the share of unanswerable questions above it.
   Goal: recall@k >= 0.5 over the answerable questions (a chance ranking of 256 documents finds ~2%).
"""

import argparse
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
    from toolkit.retrieval import prebuilt
    from toolkit.retrieval.embeddings import embed, text_key

    keys = [text_key(t) for t in texts]
    started, new = time.monotonic(), 0
    with diskcache.Cache(str(paths.subdir("cache") / "embeddings")) as cache:
        vectors = [cache.get(k) for k in keys]
        shipped = prebuilt.lookup([k for k, v in zip(keys, vectors, strict=True) if v is None])
        vectors = [v if v is not None else shipped.get(k) for k, v in zip(keys, vectors, strict=True)]
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
    """Both sides embed every chunk: the shipped corpus vectors are switched off for this measurement only."""
    from toolkit.retrieval import prebuilt

    shipped, prebuilt.lookup = prebuilt.lookup, lambda keys: {}
    try:
        return _ingest_ratio(docs)
    finally:
        prebuilt.lookup = shipped


def _ingest_ratio(docs: int) -> dict:
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


def query_latency(max_chunks: int, budget_s: float, queries: int, limit: int) -> dict:
    import numpy as np

    from toolkit.datasets import load_dataset
    from toolkit.retrieval.embeddings import embed
    from toolkit.retrieval.index import chunks_for, collection
    from toolkit.retrieval.retriever import get_retriever
    from toolkit.retrieval.settings import RetrieverSettings

    data = load_dataset("factbook", "dev")
    settings = RetrieverSettings(k=K)
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
        found = quality(retriever, limit)
    finally:
        os.environ["TIERLAB_HOME"] = cache_home
    return {"corpus_chunks": len(chunks), "chunks_indexed": indexed, "synthetic_vectors": 0,
            "left_out_not_embedded_yet": len(chunks) - len(real), "embedded_this_run": new, "queries": len(questions),
            "invoke_ms": {"p50": round(pct(full, 50), 1), "p95": round(pct(full, 95), 1)},
            "search_only_ms": {"p50": round(pct(search, 50), 1), "p95": round(pct(search, 95), 1)}}, found


K = 5
"""Chunks per query for latency and quality (the retriever's default k)."""


def quality(retriever, limit: int) -> dict:
    """recall@k and MRR of the gold documents per split and kind (the scorers the experiment report uses), and the
    relevance threshold calibrated on the answerable test questions."""
    from collections import defaultdict

    from toolkit.datasets import load_dataset
    from toolkit.metrics.retrieval import recall, reciprocal_rank
    from toolkit.retrieval.settings import RELEVANCE_THRESHOLD

    out: dict = {"k": K}
    top: dict[str, list[float]] = defaultdict(list)
    for split in ("dev", "test"):
        questions = load_dataset("factbook", split).questions[: limit or None]
        by_kind: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for q in questions:
            docs = retriever.invoke(q.question)
            best = max((float(d.metadata.get("score", 0.0)) for d in docs), default=0.0)
            top[f"{split}_{'answerable' if q.doc_ids else 'unanswerable'}"].append(best)
            if q.doc_ids:
                ranked = [str(d.metadata.get("doc_id")) for d in docs]
                by_kind[q.kind].append((recall(q.doc_ids, ranked), reciprocal_rank(q.doc_ids, ranked)))
        rows = {kind: {"n": len(v), "recall_at_k": round(sum(r for r, _ in v) / len(v), 3),
                       "mrr": round(sum(m for _, m in v) / len(v), 3)} for kind, v in sorted(by_kind.items())}
        every = [pair for v in by_kind.values() for pair in v]
        rows["all answerable"] = {"n": len(every), "recall_at_k": round(sum(r for r, _ in every) / len(every), 3),
                                  "mrr": round(sum(m for _, m in every) / len(every), 3)}
        out[split] = rows
    calibration = sorted(top["test_answerable"])
    threshold = calibration[len(calibration) // 10] if calibration else None
    unanswerable = top["dev_unanswerable"] + top["test_unanswerable"]
    out["relevance"] = {
        "calibrated_threshold_p10_test_answerable": None if threshold is None else round(threshold, 3),
        "threshold_in_use": RELEVANCE_THRESHOLD,
        "answerable_at_or_above": round(sum(t >= RELEVANCE_THRESHOLD for t in calibration) / max(len(calibration), 1), 3),
        "unanswerable_at_or_above": round(sum(t >= RELEVANCE_THRESHOLD for t in unanswerable) / max(len(unanswerable), 1), 3),
        "unanswerable_n": len(unanswerable),
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=1)
    parser.add_argument("--chunks", type=int, default=0, help="index the first N corpus chunks (0: all)")
    parser.add_argument("--embed-budget-s", type=float, default=-1, help="-1: embed every missing chunk")
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--limit", type=int, default=0, help="quality: first N questions of each split (0: all)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    load0 = report.load_average()
    ingest = ingest_ratio(args.docs)
    query, found = query_latency(args.chunks, args.embed_budget_s, args.queries, args.limit)
    figures = {"ingest": ingest, "query": query, "quality": found}
    q, recall_all = query, found["test"]["all answerable"]["recall_at_k"]
    goals = {"ingest / raw embedder": report.goal(ingest["ratio"], ">= 0.8", ingest["ratio"] >= 0.8),
             "query p95 ms (retriever.invoke)": report.goal(q["invoke_ms"]["p95"], "< 50", q["invoke_ms"]["p95"] < 50),
             "real chunks indexed": report.goal(q["chunks_indexed"], ">= 10000", q["chunks_indexed"] >= 10_000),
             f"recall@{K} (test, answerable)": report.goal(recall_all, ">= 0.5", recall_all >= 0.5)}
    headline = [f"{q['chunks_indexed']} real chunk vectors indexed (synthetic 0; {q['left_out_not_embedded_yet']} of "
                f"the corpus's first {q['corpus_chunks']} not embedded yet): invoke p50/p95 {q['invoke_ms']['p50']}/"
                f"{q['invoke_ms']['p95']} ms, search only {q['search_only_ms']['p50']}/{q['search_only_ms']['p95']} ms",
                f"whole corpus, k={K}: recall@k / MRR {found['dev']['all answerable']['recall_at_k']} / "
                f"{found['dev']['all answerable']['mrr']} (dev), {recall_all} / {found['test']['all answerable']['mrr']}"
                f" (test{f', first {args.limit}' if args.limit else ''}); relevance threshold (p10 of answerable test) "
                f"{found['relevance']['calibrated_threshold_p10_test_answerable']}"]
    report.write("retrieval", figures, goals, load_at_start=load0, headline=headline)


if __name__ == "__main__":
    main()
