"""The hallucination judges on the cases issue 17 lists as wrong, each failing on the old rule judge."""

import math

import pytest

from toolkit.judges import JudgeInput, cohen_kappa, get_judge, judge_input, shown_context
from toolkit.judges.answers import hallucination, judge_answer
from toolkit.judges.claims import judge_claims
from toolkit.judges.llm import LlmJudge, parse_verdict
from toolkit.records import Answer, Question, RetrievedChunk, Usage

CAPITAL = Question(id="c", question="What is the capital of France?", kind="short", answers=("Paris",))
DISH = Question(id="d", question="What is the national dish of France?", kind="unanswerable")
AREA = Question(id="a", question="What is the total area of France?", kind="numeric", answers=("643,801 sq km",),
                tolerance=0.05)
BORDERS = Question(id="b", question="Which countries border Spain?", kind="list",
                   answers=("Andorra", "France", "Gibraltar", "Portugal", "Morocco"))


def ans(text: str, *chunks: str, **details) -> Answer:
    retrieved = tuple(RetrievedChunk(id=f"c{i}", doc_id="x", text=t, score=0.9) for i, t in enumerate(chunks))
    return Answer(text=text, method="test", retrieved=retrieved, details=details)


def judge(question: str, answer: str, gold=(), context="", kind=""):
    return judge_claims(JudgeInput(question=question, answer=answer, gold=tuple(gold), context=context, kind=kind),
                        use_embeddings=False)


def test_an_alias_of_the_gold_answer_is_not_a_hallucination():
    q = "Which country has Washington, DC as its capital?"
    assert judge(q, "The USA.", gold=["United States"]).label == "supported"
    assert judge(q, "Canada.", gold=["United States"]).label == "hallucinated"


@pytest.mark.parametrize("reply", ["I don\u2019t know.", "I don't know", "The context does not say.", ""])
def test_abstention_is_the_whole_reply_stance(reply):
    assert judge("What is the capital of Australia?", reply, gold=["Canberra"]).label == "abstained"


def test_a_claim_next_to_an_unknown_is_judged():
    verdict = judge("What is the capital of Australia?", "Sydney. Its founding date is unknown.", gold=["Canberra"])
    assert verdict.label == "hallucinated"
    wrong_list = "France, Portugal, Italy and Germany; the rest is unknown."
    verdict = judge(BORDERS.question, wrong_list, gold=BORDERS.answers, kind="list")
    assert verdict.label == "hallucinated" and "Italy" in verdict.reason and "Germany" in verdict.reason


def test_negation_is_not_supported_by_the_positive_statement():
    context = "### Climate\n\ntropical in the south, desert in the north"
    q = "What is the climate of Chad?"
    assert judge(q, "The climate is not desert.", context=context).label == "hallucinated"
    assert judge(q, "The climate is desert in the north.", context=context).label == "supported"
    assert judge(CAPITAL.question, "The capital of France is not Paris.", gold=["Paris"]).label == "hallucinated"


def test_numbers_are_compared_with_units_and_tolerance():
    context = "### Area\n\n- total: 643,801 sq km"
    for reply, label in (("About 640,000 km\u00b2.", "supported"), ("0.64 million square kilometres", "supported"),
                         ("It is 840,000 sq km.", "hallucinated"), ("643,801 sq mi", "hallucinated")):
        assert judge(AREA.question, reply, gold=AREA.answers).label == label, reply
        assert judge(AREA.question, reply, context=context).label == label, reply


def test_an_added_unsupported_claim_makes_a_correct_answer_hallucinated():
    assert judge(CAPITAL.question, "Paris, which has 12 million people.", gold=["Paris"]).label == "hallucinated"


def test_a_swapped_entity_is_caught_from_the_context_alone():
    context = "# France\n\n### Capital\n\n- name: Paris\n- geographic coordinates: 48 52 N, 2 20 E"
    assert judge(CAPITAL.question, "The capital of France is Lyon.", context=context).label == "hallucinated"
    assert judge(CAPITAL.question, "Paris [c1]", context=context).label == "supported"


def test_an_answer_to_an_unanswerable_question_is_hallucinated_unless_it_abstains():
    """The labelling guidelines' rule: the corpus holds no answer, so any specific answer is unsupported (the default
    judge knows the question's kind); the claim rules alone leave a closed-book one unknown (nothing to check)."""
    dish = ans("The national dish is pot-au-feu.")
    assert judge_answer(DISH, dish).label == "hallucinated" and hallucination(DISH, dish) == 1.0
    assert judge_answer(DISH, ans("I don't know.")).label == "abstained" and hallucination(DISH, ans("No idea.")) == 0.0
    assert judge_claims(judge_input(DISH, dish), use_embeddings=False).label == "unknown"
    rag = ans("The national dish is pot-au-feu.", "### Climate\n\ngenerally cool winters and mild summers")
    assert judge_claims(judge_input(DISH, rag), use_embeddings=False).label == "hallucinated"


def test_only_the_chunks_shown_in_the_prompt_are_judged():
    answer = ans("Lyon is the capital.", "Paris is the capital of France.", "Lyon is the capital of France.",
                 chunks_shown=1, max_chunk_chars=800)
    assert shown_context(answer) == "Paris is the capital of France."
    assert judge_input(CAPITAL, answer).context == "Paris is the capital of France."
    assert judge_answer(CAPITAL, answer).hallucinated


@pytest.mark.parametrize("reply, verdict", [
    ("NOT SUPPORTED", "UNSUPPORTED"), ("Not supported.", "UNSUPPORTED"), ("Verdict: unsupported", "UNSUPPORTED"),
    ("SUPPORTED", "SUPPORTED"), ("ABSTAINED", "ABSTAINED"), ("maybe", None), ("SUPPORTED or UNSUPPORTED", None),
])
def test_llm_verdict_parser(reply, verdict):
    assert parse_verdict(reply) == verdict


class _Reply:
    def __init__(self, text: str):
        self.content, self.response_metadata = text, {"tierlab_usage": Usage(calls=1, input_tokens=90).model_dump()}


class _Model:
    def __init__(self, text: str):
        self.text, self.prompts = text, []

    def invoke(self, prompt):
        self.prompts.append(prompt)
        return _Reply(self.text)


def test_llm_judge_unparsable_reply_is_unknown_and_its_usage_is_its_own():
    model = _Model("I think the answer might be fine")
    verdict = get_judge("llm", model=model)(JudgeInput(question="q?", answer="a", gold=("a",)))
    assert verdict.label == "unknown" and not verdict.hallucinated and verdict.usage.calls == 1
    assert verdict.version == "llm-judge-v2" and "Gold answer: a" in model.prompts[0]
    assert LlmJudge(_Model("NOT SUPPORTED"))(JudgeInput(question="q?", answer="b")).label == "hallucinated"


def test_cohen_kappa_by_hand():
    same = cohen_kappa([True, False, True, False], [True, False, True, False])
    assert same["agreement"] == 1.0 and same["kappa"] == 1.0
    half = cohen_kappa([True, True, False, False], [True, False, True, False])  # expected 0.5 -> kappa 0
    assert half["agreement"] == 0.5 and half["kappa"] == pytest.approx(0.0)
    assert math.isnan(cohen_kappa([True, True], [True, True])["kappa"])  # one class only: undefined


def test_judge_agreement_with_human_review_marks(tmp_path):
    from toolkit.judges import Verdict, human_agreement
    from toolkit.strategies.review import ReviewItem, ReviewQueue, review_summary

    def v(label: str) -> Verdict:
        return Verdict(judge="claims", hallucinated=label == "hallucinated", abstained=label == "abstained")

    verdicts = {"a": v("supported"), "b": v("hallucinated"), "c": v("supported"), "d": v("hallucinated"),
                "e": v("abstained")}
    marks = {"a": True, "b": False, "c": False, "d": False, "e": True}  # "e" abstained: left out
    agree = human_agreement(verdicts, marks)
    # judge supported: a c / humans correct: a -> observed 3/4; p_judge .5, p_human .25 -> expected .5 -> kappa .5
    assert agree["n"] == 4 and agree["agreement"] == 0.75 and agree["kappa"] == pytest.approx(0.5)
    queue = ReviewQueue("run", root=tmp_path)
    for qid in marks:
        queue.add(ReviewItem(question_id=qid, question="q?", answer="x", confidence=0.1))
        queue.mark(qid, marks[qid])
    summary = review_summary(queue, dict.fromkeys(marks, 1.0), verdicts)
    assert summary["review.judge_kappa"] == pytest.approx(0.5) and summary["review.judge_n"] == 4


def test_review_panel_shows_the_judges_agreement_with_the_marks(tmp_path):
    from toolkit.judges import Verdict
    from toolkit.strategies.review import ReviewItem, ReviewQueue
    from toolkit.ui.review import ReviewPanel

    queue = ReviewQueue("run", root=tmp_path)
    for qid in ("a", "b"):
        queue.add(ReviewItem(question_id=qid, question="q?", answer="x", confidence=0.1))
    verdicts = {"a": Verdict(judge="claims", hallucinated=False), "b": Verdict(judge="claims", hallucinated=True)}
    panel = ReviewPanel(queue, verdicts=verdicts)
    panel.correct.click()
    panel.incorrect.click()
    assert "agreement 100%, Cohen's κ 1.00 (n=2)" in panel.status.value


def test_yes_no_answers_are_checked_by_a_yes_no_gold_answer_else_by_the_context():
    q = "Are both Arthur's Magazine and First for Women magazines?"
    assert judge(q, "No.", gold=["yes"]).label == "hallucinated"
    assert judge(q, "Yes, both are.", gold=["Yes"]).label == "supported"
    assert judge(q, "Yes", context="Arthur's Magazine was a periodical.").label == "unknown"  # the context is silent


def test_sentence_long_gold_answers_are_read_like_a_context():
    q, gold = "What happens if you eat watermelon seeds?", ["Nothing happens; they pass through your digestive system"]
    assert judge(q, "They will pass through your digestive system.", gold=gold).label == "supported"
    assert judge(q, "They do not pass through your digestive system.", gold=gold).label == "hallucinated"
    assert judge(q, "You grow watermelons in your stomach.", gold=gold).label == "hallucinated"
