"""Cascade: answer with a cheap provider, escalate to a strong one only when a confidence signal fires.

Signals read what the cheap answer already carries (no extra calls) except self-consistency, which samples the
cheap model again. The same signals give the answer a confidence in [0, 1] that human review uses.
"""

from collections.abc import Callable

from langchain_core.language_models import BaseChatModel

from toolkit.extraction import is_abstention
from toolkit.records import Answer, Question
from toolkit.strategies.caching import casefold_words
from toolkit.strategies.spec import Cascade


def verification_disagrees(answer: Answer) -> bool | None:
    """CoVe's own doubt: a cross-check found an inconsistency, or the verified answer changed the baseline.

    None when the answer has no verification (not a CoVe method), so the signal is "not measured", not "fine".
    """
    d = answer.details
    checks = d.get("cross_checks")
    if checks:
        if any(c.get("verdict") == "inconsistent" for c in checks):
            return True
    if d.get("dropped_items"):
        return True
    if "baseline" in d and "final" in d and d.get("verification_questions") is not None:
        return casefold_words(str(d["baseline"])) != casefold_words(str(d["final"]))
    return False if checks else None


def low_retrieval(answer: Answer, min_score: float) -> bool | None:
    if not answer.retrieved:
        return None
    return max(chunk.score for chunk in answer.retrieved) < min_score


def inconsistent_samples(answer: Answer, samples: list[Answer]) -> bool:
    """Self-consistency: the extra samples do not all agree with the answer (normalized text)."""
    target = casefold_words(answer.text)
    return any(casefold_words(s.text) != target for s in samples)


def sample_llm(llm: BaseChatModel, temperature: float, sample: int) -> BaseChatModel:
    """A copy of the chat model drawing the ``sample``-th of several samples at ``temperature``.

    TierLab's provider models take the sample index as an explicit call parameter: it is never sent, it keys the
    response cache, so n samples are n answers rather than one answer replayed n times.
    """
    fields = type(llm).model_fields
    if "params" in fields and isinstance(getattr(llm, "params", None), dict):
        return llm.model_copy(update={"params": {**llm.params, "temperature": temperature, "sample": sample}})
    if "temperature" in fields:
        return llm.model_copy(update={"temperature": temperature})
    raise ValueError(f"self_consistency needs a chat model with a temperature setting; {type(llm).__name__} has none")


def signals(answer: Answer, settings: Cascade, resample: Callable[[], list[Answer]] | None = None) -> dict[str, bool]:
    """Which configured signals fire on ``answer``; signals that do not apply (None) are left out."""
    fired: dict[str, bool | None] = {}
    for name in settings.signals:
        if name == "abstention":
            fired[name] = is_abstention(answer.text)
        elif name == "verification":
            fired[name] = verification_disagrees(answer)
        elif name == "retrieval_score":
            fired[name] = low_retrieval(answer, settings.min_retrieval_score)
        elif name == "self_consistency" and resample is not None:
            fired[name] = inconsistent_samples(answer, resample())
    return {k: bool(v) for k, v in fired.items() if v is not None}


def confidence(fired: dict[str, bool]) -> float:
    """Share of measured signals that did NOT fire (1.0 when none could be measured)."""
    return 1.0 - sum(fired.values()) / len(fired) if fired else 1.0


def cascade_answer(question: Question, answer_with: Callable[[Question, BaseChatModel], Answer], cheap: BaseChatModel,
                   strong: BaseChatModel, settings: Cascade, first: Answer | None = None) -> Answer:
    """The cheap answer, or the strong one when any signal fires; both answers' steps count toward usage.

    ``first`` is a cheap answer obtained another way (e.g. from a batch); otherwise the cheap model is asked.
    """
    first = first if first is not None else answer_with(question, cheap)
    extra: list[Answer] = []

    def resample() -> list[Answer]:
        extra.extend(answer_with(question, sample_llm(cheap, settings.temperature, sample=i))
                     for i in range(settings.samples))
        return extra

    fired = signals(first, settings, resample if "self_consistency" in settings.signals else None)
    info = {"escalated": any(fired.values()), "signals": fired, "confidence": confidence(fired),
            "cheap_answer": first.text, "samples": [a.text for a in extra]}
    sample_steps = tuple(s.model_copy(update={"name": f"sample[{i}]:{s.name}"})
                         for i, a in enumerate(extra) for s in a.steps)
    if not info["escalated"]:
        return first.model_copy(update={"steps": first.steps + sample_steps,
                                        "details": {**first.details, "cascade": info}})
    second = answer_with(question, strong)
    return second.model_copy(update={
        "steps": tuple(s.model_copy(update={"name": f"cheap:{s.name}"}) for s in first.steps) + sample_steps
        + second.steps,
        "retrieved": second.retrieved or first.retrieved,
        "flags": (*second.flags, "escalated"),
        "details": {**second.details, "cascade": info},
    })
