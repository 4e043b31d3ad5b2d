"""Prompt trimming: a context budget for RAG (top-k, chunk truncation, dropping low-score chunks).

Implemented as a retriever wrapper so every retrieving method (rag, rag_cove …) is trimmed the same way without
knowing about it; the tokens saved show up in the arm's usage and the accuracy cost in its metrics.
"""

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from toolkit.strategies.spec import Trimming


def trim_documents(documents: list[Document], settings: Trimming) -> list[Document]:
    """Drop chunks below ``min_score`` (metadata ``score``), keep the best ``top_k``, cut each to ``max_chunk_chars``."""
    docs = list(documents)
    if settings.min_score is not None:
        docs = [d for d in docs if float((d.metadata or {}).get("score", 0.0)) >= settings.min_score]
    if settings.top_k is not None:
        docs = sorted(docs, key=lambda d: -float((d.metadata or {}).get("score", 0.0)))[: settings.top_k]
    if settings.max_chunk_chars is not None:
        docs = [
            d if len(d.page_content) <= settings.max_chunk_chars
            else Document(page_content=d.page_content[: settings.max_chunk_chars], metadata={**d.metadata, "trimmed": True},
                          id=d.id)
            for d in docs
        ]
    return docs


class TrimmingRetriever(BaseRetriever):
    """Wraps any retriever and applies a ``Trimming`` budget to what it returns."""

    inner: BaseRetriever
    settings: Trimming

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return trim_documents(self.inner.invoke(query), self.settings)
