"""Judging as one stage: every place that judges (runs, the strategies runner, re-judge, ``tierlab judge eval``)
calls :func:`judge_all`, so a judge registered once is usable everywhere.

What a judge sees depends on the arm (see ``judge_input``): closed-book answers are judged against the gold
answers only, RAG answers against the gold answers and the chunks the model was shown. A closed-book answer to a
question without gold (unanswerable from the corpus) cannot be checked offline: its verdict is ``unknown`` and it
is left out of the hallucination rate instead of being counted as a hallucination.
"""

from collections.abc import Mapping

from toolkit.judges.base import DEFAULT_JUDGE, Judge, JudgeInput, Verdict, get_judge, judge_input
from toolkit.records import Answer, Question


def judge_all(judges: Mapping[str, Judge], item: JudgeInput, errors: list[str] | None = None) -> dict[str, Verdict]:
    """``{judge name: Verdict}`` for one answer, in the order of ``judges``.

    With ``errors`` a judge that raises (an LLM judge whose endpoint is down) gives an ``unknown`` verdict carrying
    the error, and the error is appended there: one failing judge never loses the answer. Without it, it raises.
    """
    out = {}
    for name, judge in judges.items():
        try:
            out[name] = judge(item)
        except Exception as error:
            if errors is None:
                raise
            message = f"judge {name}: {type(error).__name__}: {str(error)[:300]}"
            errors.append(message)
            out[name] = Verdict(judge=name, hallucinated=False, unknown=True, reason=message)
    return out


def judge_answer(question: Question, answer: Answer, **options) -> Verdict:
    """The default judge's verdict on one experiment answer (what the ``hallucination`` metric reads)."""
    return judge_all({DEFAULT_JUDGE: get_judge(DEFAULT_JUDGE, **options)}, judge_input(question, answer))[DEFAULT_JUDGE]


def hallucination(question: Question, answer: Answer) -> float | None:
    """1.0 when the default judge finds an unsupported claim, 0.0 otherwise; ``None`` when it cannot decide."""
    verdict = judge_answer(question, answer)
    return None if verdict.unknown else float(verdict.hallucinated)


def groundedness(question: Question, answer: Answer) -> float | None:
    """Share of the answer's claims the shown context backs (RAG answers that do not abstain; else ``None``)."""
    return judge_answer(question, answer).groundedness
