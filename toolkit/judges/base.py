"""What every hallucination judge takes and returns, and the one registry of judges.

A judge sees one :class:`JudgeInput` (the question, the raw answer text, the gold aliases if any, the context the
model saw if any) and returns a :class:`Verdict`. Judges never see a method's parsed answer: they judge what the
model wrote. The same input type serves experiments (built from a ``Question`` and an ``Answer`` by
:func:`judge_input`) and the meta-evaluation (built from one labelled JSONL line), so the figures
``tierlab judge eval`` reports are figures of exactly the code experiments run.
"""

from collections.abc import Callable
from functools import partial
from typing import Literal

from pydantic import Field

from toolkit.records import Answer, Question, Record, Usage
from toolkit.registry import Registry

Label = Literal["hallucinated", "supported", "abstained", "unknown"]
LABELS: tuple[str, ...] = ("hallucinated", "supported", "abstained")
"""Labels a labelled item may carry; a judge may also answer ``unknown`` (counted, excluded from the rates)."""


class JudgeInput(Record):
    question: str
    answer: str
    gold: tuple[str, ...] = Field(default=(), description="Accepted answers (aliases), or the gold items of a list.")
    context: str = Field(default="", description="What the model saw in its prompt; empty for closed-book answers.")
    kind: str = Field(default="", description="Question kind (short, numeric, list, ...); empty when unknown.")
    tolerance: float | None = Field(default=None, description="Relative tolerance for numeric gold answers.")
    reference: str = Field(default="", description="The question's source document(s), what labellers read "
                                                   "(``toolkit.judges.evidence``); empty when there is none.")


class Verdict(Record):
    """One judge's decision on one answer; stored with the answer so replays never judge twice."""

    judge: str
    version: str = ""
    hallucinated: bool
    abstained: bool = False
    unknown: bool = Field(default=False, description="The judge could not decide; excluded from every rate.")
    entities: int = 0
    unsupported_entities: int = 0
    groundedness: float | None = None
    reason: str = ""
    usage: Usage = Usage()

    @property
    def label(self) -> Label:
        if self.unknown:
            return "unknown"
        if self.abstained:
            return "abstained"
        return "hallucinated" if self.hallucinated else "supported"


Judge = Callable[[JudgeInput], Verdict]

JUDGES = Registry("judge")
JUDGES.register("offline", "toolkit.judges.detector:judge_offline")
JUDGES.register("claims", "toolkit.judges.claims:judge_claims")
JUDGES.register("llm", "toolkit.judges.llm:LlmJudge")
DEFAULT_JUDGE = "offline"
"""The judge experiments use unless a spec lists others: runs on a CPU, no model server, no key."""
LLM_PREFIX = "llm:"
DEPRECATED_NAMES = {"rules": DEFAULT_JUDGE}
"""Names older specs and stores used for the default judge."""


def judge_name(name: str) -> str:
    """The one name of a judge: a registered name, or ``llm:<catalog id>`` for an LLM judge (a bare catalog id and
    the deprecated ``rules`` are accepted and rewritten). Raises ``ValueError`` naming the fix."""
    name = DEPRECATED_NAMES.get(name, name)
    if name in JUDGES and name != "llm":
        return name
    model = name.removeprefix(LLM_PREFIX)
    from toolkit.providers import load_catalog

    if model in load_catalog().ids():
        return LLM_PREFIX + model
    from toolkit.registry import did_you_mean

    known = [n for n in JUDGES.names() if n != "llm"]
    raise ValueError(f"unknown judge {name!r}.{did_you_mean(name, known)} Known judges: {', '.join(known)}, "
                     f"or llm:<catalog id> for an LLM judge (tierlab providers lists the ids).")


def check_options(name: str, options: dict) -> None:
    """Raise ``ValueError`` naming the option a registered judge does not take."""
    import inspect

    target = JUDGES.get(DEPRECATED_NAMES.get(name, name))
    accepted = inspect.signature(target).parameters
    for option in options:
        if option not in accepted or option == next(iter(accepted)):
            raise ValueError(f"judge {name!r} takes no option {option!r}; it takes: "
                             f"{', '.join(list(accepted)[1:]) or 'none'}")


def get_judge(name: str = DEFAULT_JUDGE, **options) -> Judge:
    """The judge called ``name`` (see :func:`judge_name`); ``llm:<id>`` asks that catalog model. ``options`` go to
    the judge (``use_embeddings=False`` for ``claims``, ``base_url=`` or ``model=`` for an LLM judge)."""
    if name == "llm" or name.startswith(LLM_PREFIX):
        from toolkit.judges.llm import LlmJudge

        model = options.pop("model", None) or name.removeprefix(LLM_PREFIX).removeprefix("llm")
        if not model:
            raise ValueError("the llm judge needs a model: llm:<catalog id>")
        return LlmJudge(model, **options)
    check_options(name, options)
    target = JUDGES.get(DEPRECATED_NAMES.get(name, name))
    if isinstance(target, type):
        return target(**options)
    return partial(target, **options) if options else target


def shown_context(answer: Answer) -> str:
    """The chunk text the model saw in its prompt: the first ``chunks_shown`` chunks, each cut as the prompt cut it.

    Methods record ``chunks_shown`` and ``max_chunk_chars`` (``chunk_limits`` when a chunk was cut further to fit the
    model's context window) in ``Answer.details``; answers stored before they did
    fall back to every retrieved chunk (what older versions judged).
    """
    shown = answer.shown
    limits = answer.details.get("chunk_limits") or [answer.details.get("max_chunk_chars")] * len(shown)
    return "\n".join(chunk.text[:limit] if limit else chunk.text for chunk, limit in zip(shown, limits, strict=False))


def judge_input(question: Question, answer: Answer) -> JudgeInput:
    """What a judge sees for one experiment answer (see the README's "What is measured" for the per-arm rules).

    Closed-book arms: the gold answers only. RAG arms: the gold answers and the chunks shown to the model. Every arm:
    the question's source document as reference evidence (``toolkit.judges.evidence``).
    """
    from toolkit.judges.evidence import reference

    return JudgeInput(
        question=question.question,
        answer=answer.text,
        gold=question.answers,
        context=shown_context(answer),
        kind=question.kind,
        tolerance=question.tolerance,
        reference=reference(question.doc_ids, question.dataset, question.context),
    )
