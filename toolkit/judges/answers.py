"""Judging experiment answers: what the runner stores per answer, and the ``hallucination``/``groundedness`` metrics.

What the judge sees depends on the arm (see ``judge_input``): closed-book answers are judged against the gold
answers only, RAG answers against the gold answers and the chunks the model was shown. A closed-book answer to a
question without gold (unanswerable from the corpus) cannot be checked offline: its verdict is ``unknown`` and it
is left out of the hallucination rate instead of being counted as a hallucination.
"""

from toolkit.judges.base import Verdict, judge_input
from toolkit.judges.claims import judge_claims
from toolkit.records import Answer, Question


def judge_answer(question: Question, answer: Answer, *, use_embeddings: bool = True) -> Verdict:
    """The default offline judge's verdict on one experiment answer."""
    return judge_claims(judge_input(question, answer), use_embeddings=use_embeddings)


def judge_answer_llm(question: Question, answer: Answer, model) -> Verdict:
    """An LLM judge's verdict on one experiment answer; its usage is the judge's cost, not the arm's."""
    from toolkit.judges.llm import LlmJudge

    return LlmJudge(model)(judge_input(question, answer))


def hallucination(question: Question, answer: Answer) -> float | None:
    """1.0 when the default judge finds an unsupported claim, 0.0 otherwise; ``None`` when it cannot decide."""
    verdict = judge_answer(question, answer)
    return None if verdict.unknown else float(verdict.hallucinated)


def groundedness(question: Question, answer: Answer) -> float | None:
    """Share of the answer's claims the shown context backs (RAG answers that do not abstain; else ``None``)."""
    return judge_answer(question, answer).groundedness
