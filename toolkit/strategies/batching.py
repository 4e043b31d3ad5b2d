"""Batching: k questions in one call, answers parsed back per question; nothing is ever lost.

Free tiers count requests (RPM/RPD) more tightly than tokens, so k questions per call can cut calls k-fold. Small
models often break the requested format, so an item counts as answered only when its own number is found with a
non-empty answer; every other question (missing, empty, garbled) is retried singly with the arm's method and flagged
``batch_retry``, so the accuracy cost and the retry count are both measurable.
"""

import re
from collections.abc import Callable, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from toolkit.records import Answer, Question, Usage

SYSTEM = (
    "You answer several questions at once. Reply with exactly one line per question, numbered like the questions: "
    "'1. <answer>', '2. <answer>', ... Give only the short answer, no explanations. If you do not know, write "
    "'I don't know' on that line."
)
_ITEM = re.compile(r"^\s*(?:[*#>\-]\s*)*(?:\*\*)?(?:q(?:uestion)?|a(?:nswer)?)?\s*(\d{1,3})\s*(?:\*\*)?\s*[.):\-]\s*(.*)$",
                   re.IGNORECASE)


def batch_messages(questions: Sequence[Question]) -> list[BaseMessage]:
    listing = "\n".join(f"{i}. {q.question.strip()}" for i, q in enumerate(questions, start=1))
    return [SystemMessage(SYSTEM), HumanMessage(f"{listing}\n\nAnswers ({len(questions)} numbered lines):")]


def parse_batch(text: str, count: int) -> tuple[dict[int, str], int]:
    """Answers by 1-based question number, and how many extra items (numbers outside 1..count, or repeats) came back.

    Order does not matter (a reordered reply is fine); an item must carry its own number because unnumbered lines
    cannot be attributed to a question safely. Repeats keep the first occurrence.
    """
    answers: dict[int, str] = {}
    extra = 0
    for line in (text or "").splitlines():
        match = _ITEM.match(line)
        if not match:
            continue
        number, answer = int(match.group(1)), match.group(2).strip().strip("*").strip()
        if not 1 <= number <= count or number in answers:
            extra += 1
            continue
        if answer:
            answers[number] = answer
    return answers, extra


def _share(usage: Usage, parts: int, index: int) -> Usage:
    """Split one call's usage over ``parts`` answers so sums stay exact (remainders and the call go to item 0)."""

    def split(total: int) -> int:
        return total // parts + (total % parts if index == 0 else 0)

    return Usage(
        calls=usage.calls if index == 0 else 0,
        input_tokens=split(usage.input_tokens),
        output_tokens=split(usage.output_tokens),
        cached_calls=usage.cached_calls if index == 0 else 0,
        rate_limited=usage.rate_limited if index == 0 else 0,
        latency_s=usage.latency_s / parts,
        cost_usd=usage.cost_usd / parts,
        shadow_cost_usd=usage.shadow_cost_usd / parts,
        selfhosted_cost_usd=usage.selfhosted_cost_usd / parts,
    )


def answer_batch(
    questions: Sequence[Question], llm: BaseChatModel, answer_single: Callable[[Question], Answer], method: str
) -> list[Answer]:
    """Answers for ``questions`` (one call), in order; unparsed items come from ``answer_single`` (flagged)."""
    from toolkit.methods.calls import chat

    k = len(questions)
    [(text, step)] = chat(llm, [(f"batch[{k}]", batch_messages(questions))])
    parsed, extra = parse_batch(text, k)
    answers = []
    for i, question in enumerate(questions):
        shared = step.model_copy(update={"usage": _share(step.usage, k, i)})
        details = {"batch_size": k, "batch_position": i + 1, "batch_extra_items": extra if i == 0 else 0}
        if i + 1 in parsed:
            answers.append(Answer(text=parsed[i + 1], method=f"{method}+batch", steps=(shared,), flags=("batched",),
                                  details=details))
        else:
            single = answer_single(question)
            answers.append(single.model_copy(update={
                "steps": (shared, *single.steps),
                "flags": (*single.flags, "batch_retry"),
                "details": {**single.details, **details},
            }))
    return answers


def answer_batched(
    questions: Sequence[Question], llm: BaseChatModel, answer_single: Callable[[Question], Answer], method: str, k: int
) -> list[Answer]:
    """All ``questions`` in consecutive batches of ``k`` (the last may be smaller; a batch of one is a single call)."""
    out: list[Answer] = []
    for start in range(0, len(questions), k):
        chunk = list(questions[start:start + k])
        out += [answer_single(chunk[0])] if len(chunk) == 1 else answer_batch(chunk, llm, answer_single, method)
    return out
