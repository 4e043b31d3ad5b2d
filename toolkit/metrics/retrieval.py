"""Retrieval-quality scorers: how good the chunks a RAG answer retrieved were, judged against the gold documents.

Plain callables ``metric(question, answer) -> float | None`` like every other metric. They read the answer's
retrieved chunks in retrieval order (for ``rag``: the question's top-k ranking) and the question's gold
``doc_ids``; ``None`` when the answer retrieved nothing by design (a closed-book method) or the metric does not apply
to the question (recall and MRR need gold documents; "looked relevant" is asked of unanswerable questions only).

A method retrieves when one of its steps is a retriever call (``toolkit.methods.calls.retrieve``); an answer whose
retrieval came back empty scores 0, not None.
"""

from collections.abc import Iterable, Sequence

from toolkit.records import Answer, Question

RETRIEVER_PREFIX = "retriever/"
"""``Step.provider`` of a retriever call (``methods.calls.retrieve``)."""


def retrieved(answer: Answer) -> bool:
    """Whether the method that wrote ``answer`` retrieved at all (a closed-book answer did not)."""
    return any(step.provider.startswith(RETRIEVER_PREFIX) for step in answer.steps)


def recall(gold: Iterable[str], ranked_docs: Sequence[str]) -> float:
    """Share of the ``gold`` document ids found in ``ranked_docs``."""
    gold = set(gold)
    return len(gold & set(ranked_docs)) / len(gold)


def reciprocal_rank(gold: Iterable[str], ranked_docs: Sequence[str]) -> float:
    """1 / rank of the first gold document in ``ranked_docs`` (one entry per chunk), 0 when there is none."""
    gold = set(gold)
    return next((1.0 / rank for rank, doc in enumerate(ranked_docs, start=1) if doc in gold), 0.0)


def recall_at_k(question: Question, answer: Answer) -> float | None:
    """Share of the question's gold documents among the documents of the retrieved chunks."""
    if not question.doc_ids or not retrieved(answer):
        return None
    return recall(question.doc_ids, [c.doc_id for c in answer.retrieved])


def mrr(question: Question, answer: Answer) -> float | None:
    """1 / rank of the first retrieved chunk from a gold document (0 when none is retrieved)."""
    if not question.doc_ids or not retrieved(answer):
        return None
    return reciprocal_rank(question.doc_ids, [c.doc_id for c in answer.retrieved])


def gold_chunk_share(question: Question, answer: Answer) -> float | None:
    """Share of the chunks shown to the model that come from a gold document (0 when none was shown)."""
    if not question.doc_ids or not retrieved(answer):
        return None
    shown = answer.shown
    if not shown:
        return 0.0
    gold = set(question.doc_ids)
    return sum(c.doc_id in gold for c in shown) / len(shown)


def looked_relevant(question: Question, answer: Answer) -> float | None:
    """Unanswerable questions: 1 when the best retrieved chunk is at least as similar as the best chunk of a typical
    answerable question (``RELEVANCE_THRESHOLD``, calibrated on answerable Factbook questions), i.e. retrieval handed
    the model something that looked like an answer to a question that has none."""
    if question.kind != "unanswerable" or not retrieved(answer):
        return None
    from toolkit.retrieval.settings import RELEVANCE_THRESHOLD

    top = max((c.score for c in answer.retrieved), default=0.0)
    return float(top >= RELEVANCE_THRESHOLD)


def retriever_quality(questions: Iterable[Question], retriever, k: int = 5) -> dict[str, float]:
    """recall@k (share of gold documents found among the top-k chunks, averaged over questions) and MRR (1/rank of
    the first chunk from a gold document, 0 if none in the top-k) of a retriever (anything with langchain's
    ``invoke(query) -> documents`` carrying ``doc_id`` metadata). Questions without gold docs are skipped; one
    query per question. Here rather than in ``toolkit.retrieval`` so retrieval never imports metrics."""
    recalls, reciprocal = [], []
    for q in questions:
        if not q.doc_ids:
            continue
        ranked = [str(d.metadata.get("doc_id")) for d in retriever.invoke(q.question)][:k]
        recalls.append(recall(q.doc_ids, ranked))
        reciprocal.append(reciprocal_rank(q.doc_ids, ranked))
    n = len(recalls)
    return {f"recall@{k}": sum(recalls) / n if n else 0.0, "mrr": sum(reciprocal) / n if n else 0.0, "n": float(n)}
