"""Hallucination judges: the offline claim judge (default), the LLM judge, their meta-evaluation and judge cards.

``get_judge(name)`` returns a callable ``judge(JudgeInput) -> Verdict``; ``judge_input(question, answer)`` builds
what an experiment's judge sees (gold answers, and the chunks the model was shown). ``tierlab judge eval`` measures
any judge on a labelled file; ``judge_card(name)`` gives the figures committed in ``rag_corpus/judge/metaeval.json``.
"""

from toolkit.judges.base import (
    DEFAULT_JUDGE,
    JUDGES,
    JudgeInput,
    Verdict,
    get_judge,
    judge_input,
    shown_context,
)
from toolkit.judges.metaeval import cohen_kappa, human_agreement, judge_card

__all__ = [
    "DEFAULT_JUDGE", "JUDGES", "JudgeInput", "Verdict", "cohen_kappa", "get_judge", "human_agreement", "judge_card",
    "judge_input",
    "shown_context",
]
