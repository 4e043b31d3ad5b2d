"""rag: answer only from retrieved chunks, citing them as [c1], [c2]…, or say "I don't know"."""

import re

from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from pydantic import Field

from toolkit.extraction import is_abstention
from toolkit.methods.base import Method
from toolkit.methods.calls import chat, retrieve
from toolkit.methods.fit import fit_chunks, prompt_budget
from toolkit.methods.prompts import Family, family, load_prompts
from toolkit.records import Answer, PublicQuestion, RetrievedChunk, Step


def cited_chunk_ids(text: str, labels: dict[str, str]) -> list[str]:
    """Chunk ids cited in ``text`` as ``[c2]`` or ``[c1, c3]``, in order of first citation."""
    cited: list[str] = []
    for group in re.findall(r"\[([^\]]*)\]", text):
        for label in re.findall(r"c?(\d+)", group, flags=re.IGNORECASE):
            chunk_id = labels.get(f"c{label}")
            if chunk_id and chunk_id not in cited:
                cited.append(chunk_id)
    return cited


def rag_answer(
    question: str, fam: Family, llm: BaseChatModel, retriever: BaseRetriever, max_chunks: int, max_chars: int
) -> tuple[str, list[Step], list[RetrievedChunk], dict]:
    """Retrieve, then answer from the first ``max_chunks`` chunks, cut or dropped from the lowest-ranked up until the
    prompt fits the model's context window (``toolkit.methods.fit``); shared with CoVe's RAG baseline."""
    [(chunks, retrieve_step)] = retrieve(retriever, [("retrieve", question)])
    prompt = load_prompts("answer").get("rag")
    messages, labels, shown, fitted = fit_chunks(
        prompt_budget(llm), lambda numbered: prompt.messages(fam, question=question, chunks=numbered),
        chunks[:max_chunks], max_chars)
    [(text, step)] = chat(llm, [("answer", messages)])
    info = {"chunk_labels": labels, "citations": cited_chunk_ids(text, labels), "chunks_shown": shown,
            "max_chunk_chars": max_chars}  # the judge reads what the prompt showed
    if fitted:
        info |= {"prompt_fit": fitted, "chunk_limits": fitted["chunk_limits"]}
    return text, [retrieve_step, step], chunks, info


def rag_flags(text: str, chunks: list, citations: list) -> tuple[str, ...]:
    flags = []
    if not chunks:
        flags.append("no_chunks")
    if not text:
        flags.append("empty_output")
    elif is_abstention(text):
        flags.append("abstained")
    elif not citations:
        flags.append("no_citation")
    return tuple(flags)


class Rag(Method):
    name: str = "rag"
    max_chunks: int = Field(default=3, ge=1, description="Chunks shown to the model (small models have ~1k tokens).")
    max_chunk_chars: int = Field(default=800, ge=50, description="Each chunk is cut to this many characters.")

    @property
    def needs_retriever(self) -> bool:
        return True

    def answer(self, question: PublicQuestion, llm: BaseChatModel, retriever: BaseRetriever | None = None) -> Answer:
        retriever = self.require_retriever(retriever)
        fam = family(question)
        text, steps, chunks, info = rag_answer(
            question.question, fam, llm, retriever, self.max_chunks, self.max_chunk_chars
        )
        return Answer(
            text=text,
            method=self.name,
            steps=tuple(steps),
            retrieved=tuple(chunks),
            flags=rag_flags(text, chunks, info["citations"]) + (("prompt_trimmed",) if "prompt_fit" in info else ()),
            details={"prompt_version": load_prompts("answer").version, "family": fam, "final": text, **info},
        )


rag = Rag()
