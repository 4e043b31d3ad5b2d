"""Prompts that fit the served model's context window, instead of a question failing with HTTP 400.

A method asks the chat model for its ``PromptBudget`` (``toolkit.providers.context``: the window the endpoint or the
catalog states, minus the completion's ``max_tokens``, and a token counter). When a prompt is too long, the
lowest-ranked chunk is cut to the longest text that fits, or dropped when even ``MIN_CHUNK_CHARS`` of it do not fit,
then the next one, and so on; a list of entries (CoVe's verification Q/A) loses its last entries the same way. What
was cut is recorded in ``Answer.details["prompt_fit"]``. Chat models without a budget (test doubles, other
langchain models) are not fitted.
"""

from collections.abc import Callable, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from toolkit.methods.calls import number_chunks
from toolkit.records import RetrievedChunk

MIN_CHUNK_CHARS = 120
"""A chunk cut shorter than this says too little to be worth its label: it is dropped instead."""


def prompt_budget(llm: BaseChatModel):
    """The chat model's ``PromptBudget``, or None when it cannot say (then prompts are sent as built)."""
    hook = getattr(llm, "prompt_budget", None)
    return hook() if callable(hook) else None


def fit_chunks(
    budget, render: Callable[[str], list[BaseMessage]], chunks: Sequence[RetrievedChunk], max_chars: int
) -> tuple[list[BaseMessage], dict[str, str], int, dict | None]:
    """(messages, label -> chunk id, chunks shown, what was cut or None) for a prompt over numbered chunks.

    ``render(numbered_chunks_text)`` builds the messages; each chunk is first cut to ``max_chars`` as before."""
    limits = [max_chars] * len(chunks)

    def build() -> tuple[list[BaseMessage], dict[str, str]]:
        numbered, labels = number_chunks(chunks[: len(limits)], limits)
        return render(numbered or "(none)"), labels

    messages, labels = build()
    if budget is None or budget.fits(messages):
        return messages, labels, len(chunks), None
    before = budget.count(messages)
    while limits:
        last = len(limits) - 1
        low, high, best = MIN_CHUNK_CHARS, limits[last], None
        while low <= high:  # the longest cut of the lowest-ranked chunk that fits
            limits[last] = (low + high) // 2
            if budget.fits(build()[0]):
                best, low = limits[last], limits[last] + 1
            else:
                high = limits[last] - 1
        if best is not None:
            limits[last] = best
            break
        limits.pop()
    messages, labels = build()
    cut = {"chunks_dropped": len(chunks) - len(limits), "chunk_limits": limits}
    return messages, labels, len(limits), _record(budget, before, messages, cut)


def fit_entries(
    budget, render: Callable[[Sequence[str]], list[BaseMessage]], entries: Sequence[str]
) -> tuple[list[BaseMessage], int, dict | None]:
    """(messages, entries kept, what was cut or None): drops the last entries until ``render(entries)`` fits."""
    kept = list(entries)
    messages = render(kept)
    if budget is None or budget.fits(messages):
        return messages, len(kept), None
    before = budget.count(messages)
    while kept and not budget.fits(messages):
        kept.pop()
        messages = render(kept)
    return messages, len(kept), _record(budget, before, messages, {"entries_dropped": len(entries) - len(kept)})


def _record(budget, before: int, messages: list[BaseMessage], cut: dict) -> dict:
    after = budget.count(messages)
    return {**budget.describe(), "prompt_limit": budget.limit, "prompt_tokens_before": before,
            "prompt_tokens": after, **cut, **({"still_too_long": True} if after > budget.limit else {})}
