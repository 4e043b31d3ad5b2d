"""What a run's retriever searches: the whole corpus (what a user's RAG sees) or an oracle's gold-scoped slice.

The oracle scope searches only the gold documents of the questions asked plus a few seeded distractors: it knows
where the answers are, so its RAG figures are an upper bound. Every surface labels it (``RetrievalScope.label``):
the report, the results panel and MLflow params/tags, from the description a run stores beside its answers.
"""

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from toolkit.records import Question
from toolkit.retrieval.settings import ORACLE_DISTRACTORS, RetrieverSettings, Scope


class RetrievalScope(BaseModel):
    """What one run's retrieving arms searched (stored as ``retrieval.json`` in the run folder)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: Scope | None = Field(description="corpus, oracle, or None for a run stored before scopes were recorded.")
    dataset: str
    documents: int = Field(description="Documents searched.")
    corpus_documents: int = Field(description="Documents in the whole corpus.")
    collection: str = Field(default="", description="The chromadb collection (corpus + embedder + chunking).")
    k: int = 0
    sections: tuple[str, ...] | None = None

    @property
    def label(self) -> str:
        sections = f", sections {', '.join(self.sections)}" if self.sections else ""
        if self.scope == "corpus":
            return f"whole corpus ({self.documents} of {self.corpus_documents} documents{sections}, k={self.k})"
        if self.scope == "oracle":
            return (f"ORACLE retriever: only the gold documents of the questions asked + {ORACLE_DISTRACTORS} "
                    f"distractors ({self.documents} of {self.corpus_documents} documents{sections}, k={self.k}); "
                    "an upper bound, not what a user's RAG sees")
        return "unknown (run stored before retrieval scopes were recorded; older runs searched a gold-scoped sample)"

    def params(self) -> dict:
        """Flat MLflow params of the scope."""
        return {"retriever.scope": self.scope or "unknown", "retriever.documents_searched": self.documents,
                "retriever.corpus_documents": self.corpus_documents, "retriever.collection": self.collection,
                "retriever.k": self.k, "retriever.sections": list(self.sections or ()) or "all"}


UNKNOWN = RetrievalScope(scope=None, dataset="", documents=0, corpus_documents=0)


def scoped(
    settings: RetrieverSettings, corpus: Iterable[str], questions: Iterable[Question], seed: int = 0
) -> tuple[RetrieverSettings, tuple[str, ...]]:
    """(settings to search with, documents to index) for ``settings.scope`` over a corpus of document ids.

    ``oracle`` adds a ``doc_id`` filter, so results do not depend on what else an earlier run put into the shared
    collection; ``corpus`` searches the collection as a whole (every document is indexed in it).
    """
    from toolkit.datasets.base import distractors_for

    corpus = tuple(sorted(corpus))
    if settings.scope == "corpus":
        return settings, corpus
    gold = tuple(dict.fromkeys(d for q in questions for d in q.doc_ids))
    docs = tuple(sorted(distractors_for(corpus, gold, ORACLE_DISTRACTORS, seed)))
    if settings.filters is None:
        settings = settings.model_copy(update={"filters": {"doc_id": {"$in": list(docs)}}})
    return settings, docs


def describe(settings: RetrieverSettings, documents: int, corpus_documents: int) -> RetrievalScope:
    return RetrievalScope(scope=settings.scope, dataset=settings.dataset, documents=documents,
                          corpus_documents=corpus_documents, collection=settings.collection_name(), k=settings.k,
                          sections=settings.sections)
