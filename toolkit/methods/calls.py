"""The boundary between methods and langchain-core: chat-model calls and retriever calls become ``Step``s.

Everything else in a method is plain Python over strings. Calls are synchronous (they must run inside Jupyter's
running event loop); several prompts go through ``llm.batch`` with ``max_concurrency`` (threads), leaving rate
limits to the provider's chat model. Each call is timed by its own callback so a step's latency is its own,
even inside a concurrent batch.
"""

import re
import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, get_buffer_string
from langchain_core.retrievers import BaseRetriever

from toolkit.records import USAGE_KEY, RetrievedChunk, Step, Usage

_REASONING = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)


class _CallTimer(BaseCallbackHandler):
    """Wall time of one chat-model call (the outermost run, if the model nests others)."""

    def __init__(self) -> None:
        self.started: dict[UUID, float] = {}
        self.latency_s = 0.0

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.started.setdefault(run_id, time.perf_counter())

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if run_id in self.started:
            self.latency_s = max(self.latency_s, time.perf_counter() - self.started[run_id])


def provider_name(llm: BaseChatModel, message: BaseMessage) -> str:
    """Who answered: the TierLab provider id when the chat model reports one, else vendor/model."""
    meta = getattr(message, "response_metadata", None) or {}
    for key in ("provider_id", "tierlab_provider", "provider"):
        if isinstance(meta.get(key), str) and meta[key]:
            return meta[key]
    model = meta.get("model_name") or meta.get("model") or getattr(llm, "model_name", None) or getattr(llm, "model", None)
    vendor = meta.get("model_provider") or llm._llm_type
    return f"{vendor}/{model}" if model else str(vendor)


def served_model(message: BaseMessage) -> str:
    """The model id the server's answer named (TierLab chat models report it; others give ``model_name``)."""
    meta = getattr(message, "response_metadata", None) or {}
    return str(meta.get("tierlab_served_model") or meta.get("model_name") or "")


def usage_of(message: BaseMessage, latency_s: float) -> Usage:
    """``Usage.from_message`` for TierLab chat models; token counts and measured latency for any other."""
    if USAGE_KEY in (getattr(message, "response_metadata", None) or {}):
        return Usage.from_message(message)
    tokens = getattr(message, "usage_metadata", None) or {}
    return Usage(
        calls=1,
        input_tokens=tokens.get("input_tokens", 0),
        output_tokens=tokens.get("output_tokens", 0),
        latency_s=latency_s,
    )


def output_text(message: BaseMessage) -> str:
    """The message text without reasoning blocks (``<think>…</think>``) that reasoning models prepend."""
    return _REASONING.sub("", message.text).strip()


def chat(
    llm: BaseChatModel, prompts: Sequence[tuple[str, list[BaseMessage]]], concurrency: int = 1
) -> list[tuple[str, Step]]:
    """Send named prompts (concurrently, at most ``concurrency`` at once); return (text, step) in order."""
    if not prompts:
        return []
    timers = [_CallTimer() for _ in prompts]
    configs = [{"max_concurrency": concurrency, "callbacks": [timer], "run_name": name} for timer, (name, _) in zip(timers, prompts, strict=True)]
    replies = llm.batch([messages for _, messages in prompts], config=configs)
    results = []
    for (name, messages), reply, timer in zip(prompts, replies, timers, strict=True):
        text = output_text(reply)
        step = Step(
            name=name,
            prompt=get_buffer_string(messages),
            output=text,
            provider=provider_name(llm, reply),
            model=served_model(reply),
            usage=usage_of(reply, timer.latency_s),
        )
        results.append((text, step))
    return results


def to_chunk(document: Any, position: int) -> RetrievedChunk:
    """A retriever ``Document`` (metadata ``chunk_id``, ``doc_id``, ``score``) as a ``RetrievedChunk``."""
    meta = document.metadata or {}
    return RetrievedChunk(
        id=str(meta.get("chunk_id") or document.id or f"chunk-{position}"),
        doc_id=str(meta.get("doc_id", "")),
        text=document.page_content,
        score=float(meta.get("score", 0.0)),
    )


def retrieve(retriever: BaseRetriever, queries: Sequence[tuple[str, str]]) -> list[tuple[list[RetrievedChunk], Step]]:
    """Run named queries through the retriever, one after another (embedding is CPU-bound: threads don't help).

    Each query becomes a step whose output lists the chunk ids and scores it returned, and whose ``documents`` keep
    the chunks themselves (a method may show the model only the first few).
    """
    results = []
    for name, query in queries:
        started = time.perf_counter()
        documents = retriever.invoke(query)
        latency_s = time.perf_counter() - started
        chunks = [to_chunk(doc, i) for i, doc in enumerate(documents)]
        step = Step(
            name=name,
            prompt=query,
            output="\n".join(f"{c.id} ({c.score:.3f})" for c in chunks),
            provider=f"retriever/{type(retriever).__name__}",
            usage=Usage(latency_s=latency_s),
            documents=tuple(chunks),
        )
        results.append((chunks, step))
    return results


def _plain(text: str) -> str:
    """Chunk text for a prompt: markdown headings become "Heading:" lines, blank lines go (tokens are scarce)."""
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#"):
            line = line.lstrip("#").strip() + ":"
        if line and line != ":":
            lines.append(line)
    return "\n".join(lines)


def number_chunks(chunks: Sequence[RetrievedChunk], max_chars: int | Sequence[int]) -> tuple[str, dict[str, str]]:
    """Chunks as ``[c1] text`` blocks (each cut to ``max_chars``, or to its own limit when given one per chunk) and
    the label → chunk id map for citations."""
    limits = [max_chars] * len(chunks) if isinstance(max_chars, int) else list(max_chars)
    labels: dict[str, str] = {}
    blocks = []
    for i, (chunk, limit) in enumerate(zip(chunks, limits, strict=True), start=1):
        label = f"c{i}"
        labels[label] = chunk.id
        blocks.append(f"[{label}] {_plain(chunk.text)[:limit]}")
    return "\n".join(blocks), labels
