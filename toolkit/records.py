"""The value types that cross module boundaries: a question, token usage and cost, a method step, an answer.

They are frozen pydantic models so they validate once, round-trip through JSON (the resumable result store,
MLflow tables) and cannot be mutated behind a caller's back.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

QuestionKind = Literal["short", "numeric", "list", "multihop", "unanswerable", "long"]


USAGE_KEY = "tierlab_usage"
"""Key under ``AIMessage.response_metadata`` where TierLab chat models put a ``Usage`` dict."""


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PublicQuestion(Record):
    """What an answering method may see of a question: no gold answers, tolerance, gold documents or gold context.

    Methods receive only this (``Method.__call__`` converts), so no method can read gold by construction."""

    id: str
    question: str
    kind: QuestionKind = Field(description="Decides the prompt family (list, short, long).")
    dataset: str = ""


class Question(Record):
    id: str = Field(description="Stable id, unique within its dataset.")
    question: str
    kind: QuestionKind = Field(description="Decides which metrics apply.")
    answers: tuple[str, ...] = Field(
        default=(),
        description="Accepted answers (aliases) for short/numeric/multihop; the gold items for list; empty when unanswerable.",
    )
    tolerance: float | None = Field(default=None, description="Relative tolerance for numeric answers (0.05 = ±5%).")
    doc_ids: tuple[str, ...] = Field(default=(), description="Documents that state the gold answer.")
    dataset: str = ""
    context: str | None = Field(default=None, description="Gold context shipped with the question, if any.")

    def public(self) -> PublicQuestion:
        """The part of the question a method may see (everything but the gold side)."""
        return PublicQuestion(id=self.id, question=self.question, kind=self.kind, dataset=self.dataset)


class Usage(Record):
    """Tokens, calls and money for one or many model calls; add them up with ``+``."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_calls: int = Field(default=0, description="Calls answered from the response cache (no network).")
    rate_limited: int = Field(default=0, description="HTTP 429 answers received (retried, or the daily quota's).")
    requests: int = Field(
        default=0,
        description="HTTP requests the servers received for these calls: retries, 429s and failed attempts included "
        "(0 in records written before it was counted).",
    )
    latency_s: float = Field(default=0.0, description="Wall time spent waiting for the model, summed.")
    cost_usd: float = Field(default=0.0, description="What was actually charged (0 on a free tier).")
    cached_latency_s: float = Field(
        default=0.0, description="Latency originally measured for the calls answered from cache (not waited again)."
    )
    cached_cost_usd: float = Field(
        default=0.0, description="What the calls answered from cache were charged when first made (not again)."
    )
    shadow_cost_usd: float = Field(default=0.0, description="What the provider's paid tier would have charged.")
    selfhosted_cost_usd: float = Field(default=0.0, description="Self-hosted busy time priced at $/GPU-hour.")

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(**{name: getattr(self, name) + getattr(other, name) for name in Usage.model_fields})

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def server_requests(self) -> int:
        """Requests the servers received, as they saw them; one per network call where they were not counted."""
        return self.requests or max(self.calls - self.cached_calls, 0)

    @classmethod
    def from_message(cls, message) -> "Usage":
        """The usage a TierLab chat model attached to an ``AIMessage`` (zero for other chat models)."""
        return cls(**(getattr(message, "response_metadata", None) or {}).get(USAGE_KEY, {}))


class RetrievedChunk(Record):
    id: str
    doc_id: str
    text: str
    score: float = Field(description="Similarity in [0, 1], higher is closer.")


class Step(Record):
    """One model (or retriever) call inside a method, kept so a reviewer can replay the reasoning."""

    name: str = Field(description="e.g. baseline, plan, verify[2], cross_check[2], final, retrieve.")
    prompt: str = ""
    output: str = ""
    provider: str = ""
    model: str = Field(default="", description="Model id the server's answer named (empty for retrieval steps).")
    usage: Usage = Usage()
    documents: tuple[RetrievedChunk, ...] = Field(
        default=(), description="What a retrieval step returned, best first, shown in the prompt or not (empty for "
        "model calls), so a reviewer sees every retrieved chunk's text."
    )

    @property
    def cached(self) -> bool:
        """A model call answered from the response cache (no network, no wait, nothing charged)."""
        return self.usage.cached_calls >= self.usage.calls > 0


class Answer(Record):
    text: str
    method: str
    steps: tuple[Step, ...] = ()
    retrieved: tuple[RetrievedChunk, ...] = ()
    flags: tuple[str, ...] = Field(default=(), description="What went unusually, e.g. 'plan_unparsable'.")
    details: dict = Field(default_factory=dict, description="Method-specific structure, e.g. verification Q&A.")

    @property
    def usage(self) -> Usage:
        return sum((step.usage for step in self.steps), Usage())

    @property
    def shown(self) -> tuple[RetrievedChunk, ...]:
        """The chunks the model's prompts showed: the first ``details["chunks_shown"]`` of ``retrieved`` (methods
        that retrieve more than they show record it; otherwise every retrieved chunk was shown)."""
        return self.retrieved[: self.details.get("chunks_shown", len(self.retrieved))]

    @property
    def cached(self) -> bool:
        """Every model call of this answer came from the response cache."""
        usage = self.usage
        return usage.cached_calls >= usage.calls > 0
