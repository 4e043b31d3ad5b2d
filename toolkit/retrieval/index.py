"""Ingest documents into chromadb, embedded (PersistentClient) or shared (HttpClient) through the same code.

Embedding is the expensive step on CPU (several chunks per second), so ingest only embeds chunks of documents whose
content hash changed, and vectors are cached on disk by text hash: re-ingesting into another store (a chroma server,
a fresh home) with the same chunking costs no model time.
"""

import hashlib
from collections.abc import Mapping
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict

from toolkit import paths
from toolkit.retrieval.chunking import Chunk, chunk_document
from toolkit.retrieval.settings import RetrieverSettings

BATCH = 512
"""Chunks embedded and written per step (chromadb writes big batches much faster than small ones)."""


class IngestReport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    collection: str
    added_docs: int
    updated_docs: int
    unchanged_docs: int
    removed_docs: int = 0
    chunks_written: int
    chunks_embedded: int
    total_chunks: int


def client(settings: RetrieverSettings):
    import chromadb
    from chromadb.config import Settings

    chroma_settings = Settings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        return chromadb.HttpClient(
            host=url.hostname, port=url.port or 8000, ssl=url.scheme == "https", settings=chroma_settings
        )
    path = settings.persist_dir or str(paths.subdir("chroma"))
    return chromadb.PersistentClient(path=path, settings=chroma_settings)


def collection(settings: RetrieverSettings, create: bool = True):
    from toolkit.retrieval.embeddings import MiniLMEmbeddingFunction

    db = client(settings)
    if create:
        return db.get_or_create_collection(
            settings.collection_name(),
            embedding_function=MiniLMEmbeddingFunction(),
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"dataset": settings.dataset, "chunk_size": settings.chunk_size},
        )
    try:
        return db.get_collection(settings.collection_name(), embedding_function=MiniLMEmbeddingFunction())
    except Exception as err:  # chromadb raises NotFoundError/ValueError depending on the client
        raise LookupError(
            f"no index for {settings.dataset!r} with these chunking settings ({settings.collection_name()})"
            f"{' on ' + settings.chroma_url if settings.chroma_url else ''}: run `tierlab corpus ingest` first."
        ) from err


def doc_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def chunks_for(doc_id: str, text: str, settings: RetrieverSettings) -> list[Chunk]:
    chunks = chunk_document(doc_id, text, settings.chunk_size, settings.chunk_overlap)
    if settings.sections is not None:
        chunks = [c for c in chunks if c.section in settings.sections]
    return chunks


def stored_hashes(coll) -> dict[str, str]:
    """doc_id -> content hash of what the collection holds (paged: get() of a big collection is one big reply)."""
    hashes, offset = {}, 0
    while True:
        page = coll.get(include=["metadatas"], limit=5000, offset=offset)
        for meta in page["metadatas"]:
            hashes[meta["doc_id"]] = meta["doc_hash"]
        if len(page["ids"]) < 5000:
            return hashes
        offset += 5000


def ingest(
    settings: RetrieverSettings, documents: Mapping[str, str], progress: bool = True, prune: bool = False
) -> IngestReport:
    """Make the collection hold ``documents``; only changed documents are re-chunked and written, and only text never
    embedded before reaches the model. Other documents already in it are kept, or with ``prune`` (``documents`` is
    the whole corpus) removed, so a document deleted from the corpus is no longer found."""
    from tqdm.auto import tqdm

    from toolkit.retrieval.embeddings import embed_cached

    coll = collection(settings)
    existing = stored_hashes(coll)
    changed = {d: t for d, t in documents.items() if existing.get(d) != doc_hash(t)}
    updated = [d for d in changed if d in existing]
    removed = sorted(set(existing) - set(documents)) if prune else []
    for doc_id in updated + removed:
        coll.delete(where={"doc_id": doc_id})
    chunks = [
        (c, doc_hash(text))
        for doc_id, text in sorted(changed.items())
        for c in chunks_for(doc_id, text, settings)
    ]
    embedded = 0
    with tqdm(
        total=len(chunks), unit="chunk", desc=f"ingest {settings.dataset}", disable=not progress
    ) as bar:
        for start in range(0, len(chunks), BATCH):
            batch = chunks[start : start + BATCH]
            vectors, fresh = embed_cached([c.text for c, _ in batch])
            embedded += fresh
            coll.add(
                ids=[c.id for c, _ in batch],
                documents=[c.text for c, _ in batch],
                embeddings=vectors,
                metadatas=[
                    {"doc_id": c.doc_id, "section": c.section, "index": c.index, "doc_hash": h}
                    for c, h in batch
                ],
            )
            bar.update(len(batch))
    return IngestReport(
        collection=settings.collection_name(),
        added_docs=len(changed) - len(updated),
        updated_docs=len(updated),
        unchanged_docs=len(documents) - len(changed),
        removed_docs=len(removed),
        chunks_written=len(chunks),
        chunks_embedded=embedded,
        total_chunks=coll.count(),
    )
