"""How many prompt tokens the model behind an endpoint accepts, and how to count them.

Why: a 1,024-token local model rejects a RAG prompt one token too long with HTTP 400, and the question fails.
Methods fit their prompts instead (``toolkit.methods.fit``), so they need two things from the chat model:

* the context window of the model that really serves: what the endpoint reports in ``GET /models`` (vLLM's
  ``max_model_len``, Ray Serve LLM's ``metadata.max_request_context_length``, the ``context_window`` or
  ``context_length`` some vendors list, a TierLab emulator's window of its backend), else the catalog's
  ``context_window``;
* a token count: exact (the model's own tokenizer and chat template) when the served model is a packaged local model
  prepared on this machine, else an estimate that errs on the long side (``estimate_tokens``).

The completion's ``max_tokens`` is reserved: vLLM would otherwise silently shorten the answer to what is left.
"""

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from langchain_core.messages import BaseMessage, convert_to_openai_messages

DEFAULT_RESERVE = 256
"""Completion tokens kept free when a call sets no ``max_tokens``."""
WINDOW_KEYS = ("max_model_len", "context_window", "context_length", "max_request_context_length")


@dataclass(frozen=True)
class PromptBudget:
    """The prompt tokens one call may use, and the counter that measures a prompt in them."""

    window: int
    reserve: int
    count: Callable[[Sequence[BaseMessage]], int]
    source: str

    @property
    def limit(self) -> int:
        return max(0, self.window - self.reserve)

    def fits(self, messages: Sequence[BaseMessage]) -> bool:
        return self.count(messages) <= self.limit

    def describe(self) -> dict:
        """What ``Answer.details["prompt_fit"]`` records about the budget."""
        return {"context_window": self.window, "completion_reserve": self.reserve, "source": self.source}


def window_of(models: dict, model_id: str = "") -> tuple[int | None, str | None]:
    """(context window, served model id) from a ``GET /models`` answer: the card of ``model_id``, or the only card
    (a self-hosted server serves one model); (None, None) when neither is there, the window None if unstated."""
    cards = [c for c in (models or {}).get("data") or [] if isinstance(c, dict)]
    card = next((c for c in cards if c.get("id") == model_id), cards[0] if len(cards) == 1 else None)
    if card is None:
        return None, None
    meta = card.get("metadata") if isinstance(card.get("metadata"), dict) else {}
    served = str(meta.get("backend_model") or card.get("id") or "") or None
    for source in (card, meta):
        for key in WINDOW_KEYS:
            if isinstance(source.get(key), int) and source[key] > 0:
                return source[key], served
    return None, served


def estimate_tokens(messages: Sequence[BaseMessage]) -> int:
    """A token count without the model's tokenizer: UTF-8 bytes / 2.5 + 8 per message for the chat template.

    BPE vocabularies of small models average 3.5-4.5 bytes per token on English prose and ~2.5 on digit-heavy
    Factbook text (digits are single tokens in SmolLM2's vocabulary), so this overestimates rather than overflows."""
    return sum(len(str(m.content).encode()) * 2 // 5 + 8 for m in messages) + 8


_LOADING = threading.Lock()


def local_counter(model_id: str) -> Callable[[Sequence[BaseMessage]], int] | None:
    """The exact counter for a packaged local model prepared here (its tokenizer and chat template), else None.

    Built on ``tokenizers`` and the model's own Jinja chat template, rendered as transformers renders it (the counts
    equal vLLM's ``prompt_tokens``), not on transformers itself: its lazily imported modules raced when the runner's
    threads (a counter loading here, the judge's embedder elsewhere) imported it at once ("cannot import name
    'AutoTokenizer'"). One thread loads at a time."""
    with _LOADING:
        return _local_counter(model_id)


@lru_cache(maxsize=8)
def _local_counter(model_id: str) -> Callable[[Sequence[BaseMessage]], int] | None:
    from toolkit import local_models
    from toolkit.registry import UnknownNameError

    try:
        prepared = local_models.is_prepared(model_id)
    except UnknownNameError:
        return None
    folder = local_models.model_path(model_id)
    if not prepared or local_models.get(model_id).style != "chat" or not (folder / "chat_template.jinja").is_file():
        return None
    import jinja2.sandbox
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    environment = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    template = environment.from_string((folder / "chat_template.jinja").read_text(encoding="utf-8"))
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    special = {name: (value.get("content") if isinstance(value := config.get(name), dict) else value)
               for name in ("bos_token", "eos_token")}

    def count(messages: Sequence[BaseMessage]) -> int:
        text = template.render(messages=convert_to_openai_messages(list(messages)), add_generation_prompt=True,
                               **special)
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count


def budget(window: int, served_model: str | None, reserve: int | None, origin: str) -> PromptBudget:
    counter = local_counter(served_model) if served_model else None
    how = f"tokenizer of {served_model}" if counter else "estimate (no local tokenizer)"
    return PromptBudget(window=window, reserve=reserve or DEFAULT_RESERVE, count=counter or estimate_tokens,
                        source=f"window from {origin}; count: {how}")
