"""The retriever as a langchain-core ``BaseRetriever`` (so methods compose it like any Runnable), plus the
conversion to TierLab's ``RetrievedChunk`` and the retrieval-quality metrics logged with every RAG experiment."""

from collections.abc import Iterable

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import PrivateAttr

from toolkit.records import RetrievedChunk
from toolkit.retrieval.settings import RetrieverSettings


class ChromaRetriever(BaseRetriever):
    """Top-k chunks by cosine similarity; ``score`` = cosine similarity clipped to [0, 1]."""

    settings: RetrieverSettings
    _collection = PrivateAttr(default=None)

    def _coll(self):
        if self._collection is None:
            from toolkit.retrieval.index import collection

            self._collection = collection(self.settings, create=False)
        return self._collection

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        coll = self._coll()
        if coll.count() == 0:
            raise LookupError(
                f"index {self.settings.collection_name()} is empty: run `tierlab corpus ingest` first."
            )
        result = coll.query(
            query_texts=[query],
            n_results=self.settings.k,
            where=self.settings.filters or None,
            include=["documents", "metadatas", "distances"],
        )
        return [
            Document(
                page_content=text,
                metadata={**meta, "chunk_id": chunk_id, "score": max(0.0, min(1.0, 1.0 - distance))},
            )
            for chunk_id, text, meta, distance in zip(
                result["ids"][0],
                result["documents"][0],
                result["metadatas"][0],
                result["distances"][0],
                strict=True,
            )
        ]


def get_retriever(settings: RetrieverSettings | None = None) -> ChromaRetriever:
    """A retriever over an ingested collection (raises LookupError naming the fix when it was never ingested)."""
    return ChromaRetriever(settings=settings or RetrieverSettings())


def to_chunks(docs: Iterable[Document]) -> tuple[RetrievedChunk, ...]:
    return tuple(
        RetrievedChunk(
            id=str(d.metadata.get("chunk_id", "")),
            doc_id=str(d.metadata.get("doc_id", "")),
            text=d.page_content,
            score=float(d.metadata.get("score", 0.0)),
        )
        for d in docs
    )
