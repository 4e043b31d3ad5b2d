"""Retrieval settings: one frozen model shared by ingest, the retriever, the CLI and the experiment runner."""

import hashlib
import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

EMBEDDER = "tierlab-minilm/all-MiniLM-L6-v2"

RELEVANCE_THRESHOLD = 0.57
"""Cosine similarity of a best chunk that "looks relevant" for this embedder: the 10th percentile (0.573) of the best
chunk's score over the 765 answerable Factbook test questions, retrieved from the whole corpus (measured 2026-12-07;
``benchmarks/bench_retrieval.py`` re-measures it). An unanswerable question whose best chunk reaches it got context
that looked like an answer. Calibrated on the test split, so the dev split the demo asks is not its own yardstick."""

ORACLE_DISTRACTORS = 4
"""Non-gold documents an oracle retriever searches beside the gold ones, so its ranking is not trivial."""

Scope = Literal["corpus", "oracle"]


class RetrieverSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = Field(
        default="factbook", description="Dataset whose documents form the corpus (load_dataset name)."
    )
    scope: Scope = Field(
        default="corpus",
        description="`corpus`: search every document of the dataset, as a user's RAG would. `oracle`: search only "
        "the gold documents of the questions asked plus a few distractors: an ORACLE retriever (it knows where the "
        "answers are), an upper bound labelled as such in reports, panels and MLflow.",
    )
    k: int = Field(default=5, ge=1, le=100, description="Chunks returned per query.")
    chunk_size: int = Field(
        default=800, ge=100, le=4000, description="Max characters per chunk (MiniLM reads ~256 tokens)."
    )
    chunk_overlap: int = Field(
        default=100, ge=0, description="Characters carried over between chunks of a section."
    )
    sections: tuple[str, ...] | None = Field(
        default=None, description="Only index these ## sections (e.g. ('Geography',)); None indexes all."
    )
    chroma_url: str | None = Field(
        default=None,
        description="http://host:port of a `chroma run` server; None uses the embedded PersistentClient.",
    )
    persist_dir: str | None = Field(
        default=None, description="Embedded store folder; None = <TIERLAB_HOME>/chroma."
    )
    filters: dict | None = Field(default=None, description="chromadb `where` filter, e.g. {'doc_id': 'fr'}.")

    @field_validator("chroma_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/:]+(:\d+)?/?$", value):
            raise ValueError(f"chroma_url {value!r} must look like http://127.0.0.1:8400")
        return value

    def collection_name(self) -> str:
        """Identity = corpus + embedder + chunking: change any of them and you get a fresh collection, never a
        collection mixing vectors of two chunkings. k, filters and the client do not change what is stored."""
        key = json.dumps(
            [self.dataset, EMBEDDER, self.chunk_size, self.chunk_overlap, sorted(self.sections or [])],
            sort_keys=True,
        )
        stem = re.sub(r"[^a-zA-Z0-9]+", "-", self.dataset.rsplit("/", 1)[-1]).strip("-")[:40] or "corpus"
        return f"tl-{stem}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
