"""Strategy settings: each free-tier strategy is an optional, combinable part of one arm, logged as flat params.

They sit next to a method (closed_book, rag, cove_*) rather than replacing it, so any method can be batched,
cached, trimmed, cascaded or reviewed, and the plain arm (no strategies) is the baseline they are compared with.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Signal = Literal["abstention", "verification", "retrieval_score", "self_consistency"]


class _S(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Batching(_S):
    k: int = Field(default=4, ge=2, le=20, description="Questions answered per model call.")


class Caching(_S):
    exact: bool = Field(default=True, description="Serve a stored answer to the same (normalized) question.")
    semantic: bool = Field(default=False, description="Serve the answer of the most similar stored question.")
    threshold: float = Field(default=0.92, gt=0, le=1, description="Cosine similarity a semantic hit needs.")
    ttl_s: float | None = Field(default=None, gt=0, description="Entries older than this are ignored (None: never expire).")
    across_datasets: bool = Field(default=False, description="Allow hits from questions of another dataset.")
    across_providers: bool = Field(default=False, description="Allow hits from answers another provider gave.")
    path: str | None = Field(default=None, description="SQLite file; default <home>/strategy_cache/answers.sqlite.")


class Trimming(_S):
    top_k: int | None = Field(default=None, ge=1, description="Keep only the best k chunks.")
    max_chunk_chars: int | None = Field(default=None, ge=20, description="Cut each chunk to this many characters.")
    min_score: float | None = Field(default=None, ge=0, le=1, description="Drop chunks scoring below this.")


class Cascade(_S):
    strong: str = Field(description="Catalog id of the provider to escalate to, e.g. groq/llama-3.3-70b-versatile.")
    signals: tuple[Signal, ...] = Field(default=("abstention", "verification"), min_length=1,
                                        description="Any firing signal escalates the question.")
    min_retrieval_score: float = Field(default=0.35, ge=0, le=1, description="Escalate when the best chunk scores below.")
    samples: int = Field(default=2, ge=1, le=5, description="Extra samples for self-consistency.")
    temperature: float = Field(default=0.8, ge=0, le=2, description="Sampling temperature of those extra samples.")
    base_url: str | None = Field(default=None, description="Where to reach the strong provider (default: its catalog "
                                 "URL).")
    params: dict[str, Any] | None = Field(default=None, description="The strong model's chat parameters (default: "
                                          "those of the arm's provider).")


class Review(_S):
    threshold: float = Field(default=0.5, gt=0, le=1, description="Answers with confidence below this are queued.")


class Strategies(_S):
    """The strategies of one arm; all None = the plain baseline."""

    batching: Batching | None = None
    caching: Caching | None = None
    trimming: Trimming | None = None
    cascade: Cascade | None = None
    review: Review | None = None

    @property
    def active(self) -> tuple[str, ...]:
        return tuple(name for name in type(self).model_fields if getattr(self, name) is not None)

    @property
    def label(self) -> str:
        return "+".join(self.active) or "baseline"

    @property
    def batch_size(self) -> int:
        """Questions a runner hands the arm at once (``StrategyArm.answer_many``): k when batching, else 1."""
        return self.batching.k if self.batching else 1

    @property
    def ordered(self) -> bool:
        """Whether the arm's questions must be answered one after another in sample order (a cache serves what was
        answered before, so concurrency would change which question hits)."""
        return self.caching is not None

    @property
    def call_factor(self) -> int:
        """Upper-end model calls per call of the bare method, for budgets: a cascade may ask the strong model too
        (and sample the cheap one for self-consistency)."""
        if not self.cascade:
            return 1
        return 2 + (self.cascade.samples if "self_consistency" in self.cascade.signals else 0)

    def params(self) -> dict[str, str | float | int | bool]:
        """Flat ``strategy.<name>.<field>`` params for MLflow (unset strategies are left out)."""
        flat: dict[str, str | float | int | bool] = {"strategy": self.label}
        for name in self.active:
            for key, value in getattr(self, name).model_dump(mode="json").items():
                if isinstance(value, dict):
                    flat |= {f"strategy.{name}.{key}.{k}": v for k, v in value.items()}
                elif value is not None:
                    flat[f"strategy.{name}.{key}"] = ",".join(value) if isinstance(value, list) else value
        return flat
