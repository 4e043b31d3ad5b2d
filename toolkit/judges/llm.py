"""The LLM judge: any catalog chat model (cloud or the local endpoint) asked for a one-word verdict.

The prompt is versioned (``PROMPT_VERSION`` is stored with every verdict); the judge's token usage is its own
cost, never the arm's. A reply that names no verdict is ``unknown``: counted and excluded, never "not
hallucinated".
"""

import re

from toolkit.judges.base import JudgeInput, Verdict
from toolkit.records import Usage

NAME = "llm"
PROMPT_VERSION = "llm-judge-v2"
PROMPT = """You check answers for hallucination. Reply with exactly one word: SUPPORTED, UNSUPPORTED or ABSTAINED.
SUPPORTED: everything the answer asserts is backed by the gold answer or by the context.
UNSUPPORTED: the answer asserts something that neither the gold answer nor the context backs, or contradicts them.
ABSTAINED: the answer declines to answer.

Question: {question}
Gold answer: {gold}
Context: {context}
Answer: {answer}
Verdict:"""

_VERDICT = re.compile(
    r"\b(NOT[\s_-]+SUPPORTED|UNSUPPORTED|UN-SUPPORTED|SUPPORTED|ABSTAINED|ABSTAIN|HALLUCINATED|NOT[\s_-]+HALLUCINATED)\b"
)


def parse_verdict(text: str) -> str | None:
    """SUPPORTED / UNSUPPORTED / ABSTAINED from a judge reply; ``None`` when it names none of them or several.

    "NOT SUPPORTED" and "HALLUCINATED" mean UNSUPPORTED; "NOT HALLUCINATED" means SUPPORTED.
    """
    found = set()
    for match in _VERDICT.finditer((text or "").upper()):
        word = re.sub(r"[\s_-]+", " ", match.group(1))
        found.add({"NOT SUPPORTED": "UNSUPPORTED", "UN SUPPORTED": "UNSUPPORTED", "HALLUCINATED": "UNSUPPORTED",
                   "NOT HALLUCINATED": "SUPPORTED", "ABSTAIN": "ABSTAINED"}.get(word, word))
    return found.pop() if len(found) == 1 else None


def build_prompt(item: JudgeInput) -> str:
    return PROMPT.format(
        question=item.question,
        gold="; ".join(item.gold) or "(none given)",
        context=item.context[:2000] or "(none)",
        answer=item.answer or "(empty)",
    )


class LlmJudge:
    """A judge around one chat model: ``LlmJudge(model=chat_model)`` or ``LlmJudge(model="catalog-id")``."""

    def __init__(self, model, base_url: str | None = None):
        if isinstance(model, str):
            from toolkit.providers import get_chat_model

            model = get_chat_model(model, cache=True, base_url=base_url, temperature=0, max_tokens=8)
        self.model = model

    def __call__(self, item: JudgeInput) -> Verdict:
        message = self.model.invoke(build_prompt(item))
        reply = str(message.content)
        verdict = parse_verdict(reply)
        return Verdict(
            judge=NAME,
            version=PROMPT_VERSION,
            hallucinated=verdict == "UNSUPPORTED",
            abstained=verdict == "ABSTAINED",
            unknown=verdict is None,
            reason=f"llm said {verdict or 'nothing parsable'}: {reply[:200]}",
            usage=Usage.from_message(message),
        )
