"""Hallucination and groundedness, judged offline by rules (plus the packaged MiniLM bi-encoder) or by an LLM.

Definition (what ``hallucination_rate`` means everywhere in TierLab)
--------------------------------------------------------------------
An answer *hallucinates* when it asserts something that neither the gold answer nor the context retrieved for it
supports. Concretely, with the rule judge:

* An abstention ("I don't know", "not enough information", an empty reply) asserts nothing: never a hallucination.
* List questions: every listed entity is checked on its own. An entity is supported if it names a gold entity or
  appears in the retrieved context. The answer hallucinates if at least one entity is unsupported, and the
  *entity hallucination rate* is unsupported entities / listed entities, pooled over the arm's list questions.
* Every other kind: the answer is supported if it is correct (``accuracy``) or if its claim is supported by the
  retrieved context. Its claim is what it adds to the question: its content words minus the question's words and
  stop words. A claim is supported by the context when every number in it occurs in the context (±1%) and at least
  80% of its words do; between 30% and 80% the bi-encoder decides (cosine >= 0.7 against a context sentence).
  An answer to an *unanswerable* question that does not abstain is therefore a hallucination unless the context
  really states it.
* Closed-book answers have no retrieved context, so only the gold answer can support them.

*Groundedness* (RAG answers only): the share of the answer's sentences whose claim the retrieved context supports,
by the same test; ``None`` when nothing was retrieved or the answer abstains.

The LLM judge (any catalog provider) asks the same question with a versioned prompt; its calls are counted as the
judge's own usage, never the arm's. ``agreement`` compares its verdicts with the rule judge's.
"""

import re

from toolkit.datasets.aliases import same_entity as entity_matches
from toolkit.extraction import is_abstention, list_items, numbers_close, quantities
from toolkit.metrics.accuracy import accuracy, tokens
from toolkit.records import Answer, Question, Record, Usage

RULES_VERSION = "rules-v1"
LLM_JUDGE_PROMPT_VERSION = "llm-judge-v1"
SUPPORTED_SHARE = 0.8
UNSUPPORTED_SHARE = 0.3
EMBEDDING_THRESHOLD = 0.7
_STOP = frozenset(
    "a an the of in on at to for from by with and or is are was were be been it its this that which who whom what "
    "when where how why does do did has have had as than then there their they i you he she we not no yes also "
    "about approximately around roughly total country countries answer".split()
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


class Verdict(Record):
    """One judge's decision on one answer; stored with the answer so replays never judge twice."""

    judge: str
    hallucinated: bool
    abstained: bool = False
    entities: int = 0
    unsupported_entities: int = 0
    groundedness: float | None = None
    reason: str = ""
    usage: Usage = Usage()


def claim_words(text: str, question: str) -> list[str]:
    """What an answer adds to its question: content words minus the question's words and stop words."""
    asked = set(tokens(question))
    return [t for t in tokens(text) if t not in _STOP and t not in asked]


def _embedder():
    """The retrieval package's offline MiniLM embedding (unit vectors), loaded once per process."""
    from toolkit.retrieval.embeddings import embed

    return embed


def _max_cosine(claim: str, sentences: list[str]) -> float:
    import numpy as np

    vectors = np.asarray(_embedder()([claim, *sentences]), dtype=float)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
    return float((vectors[1:] @ vectors[0]).max()) if len(sentences) else 0.0


def supported_by_context(claim: str, question: str, context: str, *, use_embeddings: bool = True) -> bool:
    """Whether ``context`` supports what ``claim`` adds to ``question`` (see the module docstring)."""
    if not context.strip():
        return False
    context_numbers = [q.value for q in quantities(context)]
    if any(not any(numbers_close(n, c, 0.01) for c in context_numbers) for n in (q.value for q in quantities(claim))):
        return False
    words = claim_words(claim, question)
    if not words:
        return True  # restates the question: asserts nothing new
    context_words = set(tokens(context))
    share = sum(w in context_words for w in words) / len(words)
    if share >= SUPPORTED_SHARE:
        return True
    if share < UNSUPPORTED_SHARE or not use_embeddings:
        return False
    sentences = [s for s in _SENTENCE.split(context) if s.strip()]
    return _max_cosine(claim, sentences) >= EMBEDDING_THRESHOLD


def _context(answer: Answer) -> str:
    return "\n".join(chunk.text for chunk in answer.retrieved)


def groundedness(question: Question, answer: Answer, *, use_embeddings: bool = True) -> float | None:
    """Share of the answer's sentences supported by its retrieved context (RAG answers only)."""
    context = _context(answer)
    if not context or is_abstention(answer.text):
        return None
    sentences = [s for s in _SENTENCE.split(answer.text) if s.strip()]
    if not sentences:
        return None
    supported = sum(
        supported_by_context(s, question.question, context, use_embeddings=use_embeddings) for s in sentences
    )
    return supported / len(sentences)


def judge_rules(question: Question, answer: Answer, *, use_embeddings: bool = True) -> Verdict:
    """The default, offline judge: gold entities and numbers, then the retrieved context."""
    ground = groundedness(question, answer, use_embeddings=use_embeddings)
    if is_abstention(answer.text):
        return Verdict(judge=RULES_VERSION, hallucinated=False, abstained=True, reason="abstained")
    context = _context(answer)
    if question.kind == "list":
        items = list_items(answer.text)
        unsupported = [
            item
            for item in items
            if not any(entity_matches(item, gold) for gold in question.answers)
            and not supported_by_context(item, question.question, context, use_embeddings=use_embeddings)
        ]
        return Verdict(
            judge=RULES_VERSION,
            hallucinated=bool(unsupported),
            entities=len(items),
            unsupported_entities=len(unsupported),
            groundedness=ground,
            reason=f"unsupported: {', '.join(unsupported)}" if unsupported else "all entities supported",
        )
    if accuracy(question, answer):
        return Verdict(judge=RULES_VERSION, hallucinated=False, groundedness=ground, reason="matches gold")
    if supported_by_context(answer.text, question.question, context, use_embeddings=use_embeddings):
        return Verdict(
            judge=RULES_VERSION, hallucinated=False, groundedness=ground, reason="supported by context"
        )
    return Verdict(
        judge=RULES_VERSION,
        hallucinated=True,
        groundedness=ground,
        reason="supported by neither gold nor context",
    )


def hallucination(question: Question, answer: Answer) -> float | None:
    """Metric form of the rule judge: 1.0 when the answer hallucinates (see the module docstring)."""
    return float(judge_rules(question, answer).hallucinated)


LLM_JUDGE_PROMPT = """You check answers for hallucination. Reply with exactly one word: SUPPORTED, UNSUPPORTED or ABSTAINED.
SUPPORTED: everything the answer asserts is backed by the gold answer or by the context.
UNSUPPORTED: the answer asserts something that neither the gold answer nor the context backs.
ABSTAINED: the answer declines to answer.

Question: {question}
Gold answer: {gold}
Context: {context}
Answer: {answer}
Verdict:"""


def parse_llm_verdict(text: str) -> str | None:
    """SUPPORTED / UNSUPPORTED / ABSTAINED from a judge reply, or None when it said none of them."""
    match = re.search(r"\b(UNSUPPORTED|SUPPORTED|ABSTAINED)\b", text.upper())
    return match.group(1) if match else None


def judge_llm(question: Question, answer: Answer, llm) -> Verdict:
    """Ask a chat model (any catalog provider) for a verdict; its usage is the judge's cost, not the arm's."""
    prompt = LLM_JUDGE_PROMPT.format(
        question=question.question,
        gold="; ".join(question.answers) or "(none: the question is unanswerable from the corpus)",
        context=_context(answer)[:2000] or "(none)",
        answer=answer.text,
    )
    message = llm.invoke(prompt)
    verdict = parse_llm_verdict(str(message.content))
    return Verdict(
        judge=LLM_JUDGE_PROMPT_VERSION,
        hallucinated=verdict == "UNSUPPORTED",
        abstained=verdict == "ABSTAINED",
        reason=f"llm said {verdict or 'nothing parsable'}: {str(message.content)[:200]}",
        usage=Usage.from_message(message),
    )


def agreement(rules: list[bool], llm: list[bool]) -> dict[str, float]:
    """Raw agreement and Cohen's kappa between two judges' hallucination verdicts on the same answers."""
    n = len(rules)
    if n == 0 or n != len(llm):
        return {"n": float(n), "agreement": float("nan"), "kappa": float("nan")}
    observed = sum(a == b for a, b in zip(rules, llm, strict=True)) / n
    p_rules, p_llm = sum(rules) / n, sum(llm) / n
    expected = p_rules * p_llm + (1 - p_rules) * (1 - p_llm)
    kappa = (observed - expected) / (1 - expected) if expected < 1 else 1.0
    return {"n": float(n), "agreement": observed, "kappa": kappa}
