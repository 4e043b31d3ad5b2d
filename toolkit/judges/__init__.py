"""Hallucination judges: the learned offline judge (default, ``offline``), the claim rules (``claims``), the LLM
judge (``llm:<catalog id>``), their meta-evaluation and judge cards.

``get_judge(name)`` returns a callable ``judge(JudgeInput) -> Verdict``; ``judge_input(question, answer)`` builds
what an experiment's judge sees (gold answers, and the chunks the model was shown); ``judge_all`` is the one stage
that applies a run's judges. ``tierlab judge eval`` measures any judge on a labelled set; ``judge_card(name)`` gives
its figures on the real-answer test split and HaluEval (``rag_corpus/judge/cards.json``).
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
from toolkit.judges.card import judge_card
from toolkit.judges.metaeval import human_agreement
from toolkit.metrics.stats import cohen_kappa

__all__ = [
    "DEFAULT_JUDGE", "JUDGES", "JudgeInput", "Verdict", "cohen_kappa", "get_judge", "human_agreement", "judge_card",
    "judge_input",
    "shown_context",
]
