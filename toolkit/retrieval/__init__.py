"""Chunking, offline MiniLM embeddings, chromadb ingest and a langchain-core retriever.

Cheap to import: chromadb, sentence-transformers and langchain load only when a function below is called.
"""

from toolkit.retrieval.settings import RetrieverSettings


def get_retriever(settings: RetrieverSettings | None = None):
    from toolkit.retrieval.retriever import get_retriever as _get

    return _get(settings)


def ingest(settings: RetrieverSettings, documents, progress: bool = True, prune: bool = False):
    from toolkit.retrieval.index import ingest as _ingest

    return _ingest(settings, documents, progress, prune)


def to_chunks(docs):
    from toolkit.retrieval.retriever import to_chunks as _to_chunks

    return _to_chunks(docs)


__all__ = ["RetrieverSettings", "get_retriever", "ingest", "to_chunks"]
