"""What the learned offline judge looks at: cues of one answer against its gold answers and its context.

Each cue is a number in a fixed order (``NAMES``), cheap to compute (no model call), and deliberately blind to the
answer's length: on HaluEval the right answers are short spans and the hallucinated ones sentences, a shortcut that
would not carry over to real models' answers. Cues:

- the claim rules' verdict (``toolkit.judges.claims`` without embeddings): hallucinated / unknown, groundedness;
- coverage: the share of the answer's new content words (not in the question) found in the context / the gold;
- names and numbers: the share of the answer's capitalised names / numbers the context / the gold does not contain;
- lists: the share of listed items no gold alias names, and a listed item that is the question's own subject;
- the gold: is an alias named in the answer (not how much else the answer says: on HaluEval a supported answer *is*
  the gold answer, another shortcut);
- which evidence there is (gold, context) and the question's kind (numbers and lists fail differently), so one
  model serves every setting;
- the reference (the question's source document, ``toolkit.judges.evidence``), kept apart from the gold and the
  context so the model weighs it on its own, for the answer's side remarks only (``side_claims``; "France is in
  Western Europe" is true, though not an answer): their share, coverage, names and numbers the reference lacks,
  and how well one passage of it (three consecutive sentences) backs the worst-backed remark; all 0 with ``has_reference`` 0
  when there is none (HaluEval).
"""

from functools import lru_cache

from toolkit.extraction import fold
from toolkit.judges import text as T
from toolkit.judges.aliases import expand
from toolkit.judges.base import JudgeInput

KINDS = ("short", "numeric", "list", "multihop")
REFERENCE_CUES = ("has_reference", "side_claims", "side_coverage_reference", "side_names_missing_reference",
                  "side_numbers_missing_reference", "side_claim_min_backed")
NAMES = (
    "has_gold", "has_context", *(f"kind_{k}" for k in KINDS),
    "rules_hallucinated", "rules_unknown", "rules_groundedness",
    "context_coverage", "gold_coverage", "evidence_coverage",
    "names_missing_context", "names_missing_gold", "names_missing_evidence",
    "numbers_missing_context", "numbers_missing_gold", "numbers_missing_evidence",
    "gold_named", "negated", "hedged",
    "list_items_not_gold", "list_names_subject",
    *REFERENCE_CUES,
)


def _share_missing(found: set[str], evidence: set[str]) -> float:
    return len(found - evidence) / len(found) if found else 0.0


def _numbers_missing(numbers: list[T.Quantity], evidence: str, tolerance: float) -> float:
    if not numbers or not evidence:
        return 0.0 if not numbers else 1.0
    there = T.quantities(evidence)
    return sum(not any(T.consistent(n, q, tolerance) for q in there) for n in numbers) / len(numbers)


_NOT_NAMES = frozenset("no yes not none nor never true false".split())
"""Capitalised at the start of a reply, never a name."""
_HEDGE = frozenset("probably likely possibly perhaps maybe might may believe think guess seems appears".split())


def features(item: JudgeInput, rules=None) -> list[float]:
    """The cues of ``item`` in the order of ``NAMES``; ``rules`` is the claim rules' verdict if already computed."""
    from toolkit.judges.claims import NUMBER_TOLERANCE, judge_claims

    rules = rules or judge_claims(item, use_embeddings=False)
    aliases = expand(item.gold) if item.gold else []
    gold_text = "\n".join(aliases)
    asked = T.content(fold(item.question))
    added = T.content(fold(item.answer)) - asked - T.GENERIC
    context_words, gold_words = T.content(fold(item.context)), T.content(fold(gold_text))
    names = T.names(fold(item.answer), initial=True) - asked - _NOT_NAMES
    tolerance = item.tolerance or NUMBER_TOLERANCE
    asked_numbers = {q.value for q in T.quantities(item.question)}
    numbers = [q for q in T.quantities(item.answer) if q.value not in asked_numbers]
    answer_words = T.words(item.answer)

    def coverage(words: set[str]) -> float:
        return len(added & words) / len(added) if added else 1.0

    evidence = context_words | gold_words
    numbers_context = _numbers_missing(numbers, item.context, tolerance) if item.context else 0.0
    numbers_gold = _numbers_missing(numbers, gold_text, tolerance) if aliases else 0.0
    both = f"{item.context}\n{gold_text}"
    values = {
        "has_gold": float(bool(aliases)),
        "has_context": float(bool(item.context.strip())),
        **{f"kind_{k}": float(item.kind == k) for k in KINDS},
        "rules_hallucinated": float(rules.hallucinated),
        "rules_unknown": float(rules.unknown),
        "rules_groundedness": rules.groundedness if rules.groundedness is not None else 0.0,
        "context_coverage": coverage(context_words) if item.context else 0.0,
        "gold_coverage": coverage(gold_words) if aliases else 0.0,
        "evidence_coverage": coverage(evidence),
        "names_missing_context": _share_missing(names, context_words) if item.context else 0.0,
        "names_missing_gold": _share_missing(names, gold_words) if aliases else 0.0,
        "names_missing_evidence": _share_missing(names, evidence),
        "numbers_missing_context": numbers_context,
        "numbers_missing_gold": numbers_gold,
        "numbers_missing_evidence": _numbers_missing(numbers, both, tolerance),
        "gold_named": float(any(_named(a, item.answer) for a in aliases)),
        "negated": float(T.is_negated(item.answer)),
        "hedged": float(bool(set(answer_words) & _HEDGE)),
        **_list_cues(item, aliases),
        **_reference_cues(item, tolerance),
    }
    return [values[name] for name in NAMES]


@lru_cache(maxsize=8)
def _passages(reference: str) -> tuple[set[str], list[T.Quantity], list[tuple[set[str], list[T.Quantity]]]]:
    """A reference's content words, its numbers, and per window of three consecutive sentences the same two."""
    from toolkit.judges.claims import _units

    units = [(T.content(fold(u)), T.quantities(u)) for u in _units(reference)]
    windows = [(set().union(*(w for w, _ in units[i : i + 3])), [q for _, qs in units[i : i + 3] for q in qs])
               for i in range(max(1, len(units) - 2))]
    return set().union(*(w for w, _ in units)), [q for _, qs in units for q in qs], windows


def side_claims(question: str, answer: str) -> list[str]:
    """The answer's side remarks: every claim but the first that uses none of the question's own words ("France is
    in Western Europe" after "Paris."). The claims that answer are left to the gold and the context: a wrong
    answer ("Lyon.") is usually a name the source document holds somewhere."""
    key = T.content(fold(question)) - T.names(fold(question), initial=True)
    return [c for c in T.claims(answer)[1:] if not T.content(fold(c)) & key]


def _reference_cues(item: JudgeInput, tolerance: float) -> dict[str, float]:
    """How well the reference backs the side remarks (neutral when there are none; all 0 without a reference)."""
    if not item.reference.strip():
        return dict.fromkeys(REFERENCE_CUES, 0.0)
    words, quantities, windows = _passages(item.reference)

    def found(n: T.Quantity, there: list[T.Quantity]) -> bool:  # a document holds many numbers: units must agree
        return any(T.consistent(n, q, tolerance) and (q.dimension == n.dimension or not n.dimension) for q in there)

    def backed(wanted: set[str], claimed: list[T.Quantity]) -> float:
        if not wanted and not claimed:
            return 1.0
        return max((len(wanted & ws) + sum(found(n, qs) for n in claimed)) / (len(wanted) + len(claimed))
                   for ws, qs in windows)

    asked = T.content(fold(item.question))
    side = side_claims(item.question, item.answer)
    text = "\n".join(side)
    added = T.content(fold(text)) - asked - T.GENERIC
    names = T.names(fold(text), initial=True) - asked - _NOT_NAMES
    numbers = [q for q in T.quantities(text) if q.value not in {a.value for a in T.quantities(item.question)}]
    return {
        "has_reference": 1.0,
        "side_claims": len(side) / len(T.claims(item.answer)) if side else 0.0,
        "side_coverage_reference": len(added & words) / len(added) if added else 1.0,
        "side_names_missing_reference": _share_missing(names, words),
        "side_numbers_missing_reference": sum(not found(n, quantities) for n in numbers) / len(numbers) if numbers else 0.0,
        "side_claim_min_backed": min((backed(T.content(fold(c)) - T.GENERIC, T.quantities(c)) for c in side), default=1.0),
    }


def _list_cues(item: JudgeInput, aliases: list[str]) -> dict[str, float]:
    """For list questions: the share of listed items no gold alias names, and whether an item is the question's own
    subject ("Austria, Switzerland, Germany" for the neighbours of Germany)."""
    if item.kind != "list" or not aliases:
        return {"list_items_not_gold": 0.0, "list_names_subject": 0.0}
    from toolkit.judges.aliases import list_items

    items = list_items(item.answer, item.gold)
    wrong = [x for x in items if not any(_named(a, x) or _named(x, a) for a in aliases)]
    subject = any(_named(x, item.question) for x in items)
    return {"list_items_not_gold": len(wrong) / len(items) if items else 0.0, "list_names_subject": float(subject)}


def _named(alias: str, answer: str) -> bool:
    from toolkit.judges.claims import _mentions

    return _mentions(alias, answer)
