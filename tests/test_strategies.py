"""Strategies with test doubles: batching parser on malformed output, cache scopes and TTL, trimming, cascade,
review queue. The real-stack runs are in test_strategies_live.py."""

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from scripted import ScriptedChatModel

from toolkit.methods import get_method
from toolkit.records import Answer, Question, RetrievedChunk, Step, Usage
from toolkit.strategies.arm import StrategyArm
from toolkit.strategies.batching import answer_batch, parse_batch
from toolkit.strategies.caching import AnswerCache
from toolkit.strategies.cascade import confidence, signals, verification_disagrees
from toolkit.strategies.report import savings, strategy_metrics, usage_by_provider
from toolkit.strategies.review import ReviewQueue, flag_for_review, review_summary, reviewed_accuracy
from toolkit.strategies.spec import Batching, Caching, Cascade, Review, Strategies, Trimming
from toolkit.strategies.trimming import TrimmingRetriever, trim_documents

CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Peru": "Lima", "Chad": "N'Djamena", "Fiji": "Suva"}


def q(country: str, dataset: str = "factbook") -> Question:
    return Question(id=f"cap-{country}", question=f"What is the capital of {country}?", kind="short",
                    answers=(CAPITALS[country],), dataset=dataset)


QUESTIONS = [q(c) for c in CAPITALS]


# --- batching -------------------------------------------------------------------------------------------------

def test_parse_batch_reordered_missing_extra_and_decorated():
    text = "Here you go:\n3) Lima\n**1.** Paris\n7. Oslo\n1. Rome\nQ2: \n5 - Suva\nsome chatter"
    answers, extra = parse_batch(text, 5)
    assert answers == {1: "Paris", 3: "Lima", 5: "Suva"}  # 2 empty, 4 missing
    assert extra == 2  # item 7 and the repeated 1


def _batcher(reply: str) -> ScriptedChatModel:
    # Batch prompts list numbered questions; single closed-book prompts get a per-country answer.
    rules = [(r"1\. What is the capital", reply)] + [(rf"capital of {c}\?", a) for c, a in CAPITALS.items()]
    return ScriptedChatModel(rules=rules, default="I don't know")


@pytest.mark.parametrize("reply, retried", [
    ("1. Paris\n2. Tokyo\n3. Lima\n4. N'Djamena\n5. Suva", 0),          # well-formed
    ("2. Tokyo\n1. Paris\n5. Suva\n3. Lima\n4. N'Djamena", 0),          # reordered
    ("1. Paris\n3. Lima", 3),                                            # missing items
    ("1. Paris\n2. Tokyo\n3. Lima\n4. N'Djamena\n5. Suva\n6. Oslo\n7. Rome", 0),  # extra items
    ("Paris, Tokyo, Lima, N'Djamena, Suva", 5),                          # unnumbered: cannot attribute safely
])
def test_batching_loses_no_question(reply, retried):
    llm = _batcher(reply)
    answers = answer_batch(QUESTIONS, llm, lambda x: get_method("closed_book")(x, llm), "closed_book")
    assert len(answers) == len(QUESTIONS)
    assert [a.text for a in answers] == [CAPITALS[c] for c in CAPITALS]  # every question answered, in order
    assert sum("batch_retry" in a.flags for a in answers) == retried
    assert sum(a.usage.calls for a in answers) == 1 + retried  # one batch call + one per retry
    batch_usage = sum((a.steps[0].usage for a in answers), Usage())
    assert batch_usage.calls == 1 and batch_usage.input_tokens > 0  # the shared call's usage is split, not copied


def test_batching_arm_cuts_calls():
    llm = _batcher("1. Paris\n2. Tokyo\n3. Lima\n4. N'Djamena")
    arm = StrategyArm(get_method("closed_book"), Strategies(batching=Batching(k=4)), "scripted/fake")
    answers = arm.answer_many(QUESTIONS, llm)
    assert [a.text for a in answers] == list(CAPITALS.values())
    assert sum(a.usage.calls for a in answers) == 2  # one batch of 4 + the last question alone
    with pytest.raises(ValueError, match="answer_many"):
        arm(QUESTIONS[0], llm)
    with pytest.raises(ValueError, match="closed_book"):
        StrategyArm(get_method("rag"), Strategies(batching=Batching()), "p")


# --- caching --------------------------------------------------------------------------------------------------

def toy_embed(texts):
    """Bag of words over a tiny vocabulary: 'capital of France' ~ 'capital city of France'."""
    vocab = ["capital", "city", "france", "japan", "peru", "population", "of", "what", "is"]
    return [[float(w in t.casefold()) for w in vocab] for t in texts]


def answer(text: str) -> Answer:
    return Answer(text=text, method="closed_book", steps=(Step(name="answer", provider="p", usage=Usage(calls=1)),))


def test_exact_and_semantic_hits_with_scopes_and_ttl(tmp_path):
    now = [1000.0]
    settings = Caching(semantic=True, threshold=0.85, ttl_s=60)
    cache = AnswerCache(settings, tmp_path / "c.sqlite", embed=toy_embed, clock=lambda: now[0])
    cache.store(q("France"), "groq/a", "closed_book", answer("Paris"))

    exact = cache.lookup(q("France"), "groq/a", "closed_book")
    assert exact.text == "Paris" and "cache_exact" in exact.flags and exact.usage.cached_calls == 1
    assert exact.usage.calls == 0

    similar = Question(id="x", question="What is the capital city of France?", kind="short", dataset="factbook")
    hit = cache.lookup(similar, "groq/a", "closed_book")
    assert "cache_semantic" in hit.flags and hit.details["cache"]["source_question_id"] == "cap-France"
    assert hit.details["cache"]["similarity"] >= 0.85
    assert cache.lookup(q("Japan"), "groq/a", "closed_book") is None

    # Never across providers or datasets unless asked.
    assert cache.lookup(similar, "gemini/b", "closed_book") is None
    other = similar.model_copy(update={"dataset": "squad"})
    assert cache.lookup(other, "groq/a", "closed_book") is None
    shared = AnswerCache(settings.model_copy(update={"across_providers": True, "across_datasets": True}),
                         tmp_path / "c.sqlite", embed=toy_embed, clock=lambda: now[0])
    assert shared.lookup(other, "gemini/b", "closed_book").text == "Paris"

    now[0] += 61  # TTL expired
    assert cache.lookup(q("France"), "groq/a", "closed_book") is None


def test_cache_arm_counts_hits_and_wrong_semantic_answers(tmp_path):
    llm = _batcher("")
    arm = StrategyArm(get_method("closed_book"), Strategies(caching=Caching(semantic=True, threshold=0.75)),
                      "scripted/fake", cache=AnswerCache(Caching(semantic=True, threshold=0.75), tmp_path / "c.sqlite",
                                                          embed=toy_embed))
    asked = [q("France"), q("France"), Question(id="pop", question="What is the population of France?",
                                                kind="numeric", answers=("68000000",), dataset="factbook")]
    answers = arm.answer_many(asked[:1], llm) + arm.answer_many(asked[1:], llm)
    assert [a.flags[-1] for a in answers[1:]] == ["cache_exact", "cache_semantic"]
    correct = [1.0, 1.0, 0.0]  # the population question got "Paris" from a semantic hit: wrong
    m = strategy_metrics(answers, correct)
    assert m["calls"] == 1 and m["cache_hit_rate"] == pytest.approx(2 / 3) and m["semantic_hits_wrong"] == 1
    base = strategy_metrics([answer("Paris")] * 3, [1.0, 1.0, 0.0])
    assert savings(m, base)["calls_saved"] == pytest.approx(2 / 3)


# --- trimming -------------------------------------------------------------------------------------------------

class ListRetriever(BaseRetriever):
    docs: list[Document]

    def _get_relevant_documents(self, query, *, run_manager):
        return self.docs


def test_trimming_budget():
    docs = [Document(page_content="a" * 100, metadata={"score": s, "doc_id": str(s)}) for s in (0.9, 0.2, 0.6, 0.5)]
    kept = trim_documents(docs, Trimming(min_score=0.4, top_k=2, max_chunk_chars=30))
    assert [d.metadata["score"] for d in kept] == [0.9, 0.6]
    assert all(len(d.page_content) == 30 and d.metadata["trimmed"] for d in kept)
    retriever = TrimmingRetriever(inner=ListRetriever(docs=docs), settings=Trimming(top_k=1))
    assert [d.metadata["score"] for d in retriever.invoke("x")] == [0.9]


# --- cascade --------------------------------------------------------------------------------------------------

def test_cascade_escalates_only_on_signals():
    cheap = ScriptedChatModel(rules=[("France", "Paris")], default="I don't know")
    strong = ScriptedChatModel(rules=[(rf"capital of {c}\?", a) for c, a in CAPITALS.items()])
    arm = StrategyArm(get_method("closed_book"), Strategies(cascade=Cascade(strong="x/strong", signals=("abstention",))),
                      "cheap", strong_llm=strong)
    answers = arm.answer_many(QUESTIONS, cheap)
    assert [a.text for a in answers] == list(CAPITALS.values())
    assert [("escalated" in a.flags) for a in answers] == [False, True, True, True, True]
    assert answers[1].details["cascade"]["cheap_answer"] == "I don't know"
    assert answers[1].usage.calls == 2 and answers[0].usage.calls == 1  # the cheap call still counts
    m = strategy_metrics(answers, [1.0] * 5)
    assert m["escalated_share"] == pytest.approx(0.8) and m["calls"] == 9


class Sampler(ScriptedChatModel):
    """Answers 'Paris' at temperature 0 and something else when sampling hot: self-consistency fails."""

    temperature: float = 0.0

    def reply_for(self, last_user: str) -> str:
        return "Paris" if self.temperature == 0 else "Lyon"


def test_self_consistency_and_verification_signals():
    settings = Cascade(strong="x", signals=("self_consistency", "verification", "retrieval_score"), samples=2)
    a = get_method("closed_book")(q("France"), Sampler())
    fired = signals(a, settings, lambda: [get_method("closed_book")(q("France"), Sampler(temperature=0.8))])
    assert fired == {"self_consistency": True}  # no verification or retrieval on a closed-book answer: not measured
    assert confidence(fired) == 0.0
    cove = Answer(text="Paris", method="cove", details={"baseline": "Lyon", "final": "Paris",
                                                        "verification_questions": ["?"]})
    assert verification_disagrees(cove) is True
    rag = Answer(text="x", method="rag", retrieved=(RetrievedChunk(id="c", doc_id="d", text="t", score=0.1),))
    assert signals(rag, settings) == {"retrieval_score": True}


# --- review ---------------------------------------------------------------------------------------------------

def test_review_queue_marks_and_reviewed_accuracy(tmp_path):
    queue = ReviewQueue("run-1", root=tmp_path)
    llm = ScriptedChatModel(rules=[("France", "Paris")], default="I don't know")
    arm = StrategyArm(get_method("closed_book"), Strategies(review=Review(threshold=0.5)), "p", review_queue=queue,
                      arm="p | closed_book", scorer=lambda qq, aa: float(aa.text in qq.answers))
    answers = arm.answer_many(QUESTIONS[:3], llm)
    assert [i.question_id for i in queue.items()] == ["cap-Japan", "cap-Peru"]  # abstentions are low-confidence
    assert queue.items()[0].auto_correct == 0.0
    queue.mark("cap-Japan", True, reviewer="ana")
    queue.mark("cap-Peru", False)
    queue.mark("cap-Peru", True)  # the last mark wins
    reopened = ReviewQueue("run-1", root=tmp_path)
    assert reopened.marks() == {"cap-Japan": True, "cap-Peru": True} and reopened.pending() == []
    auto = {qq.id: float(a.text in qq.answers) for qq, a in zip(QUESTIONS[:3], answers, strict=True)}
    assert reviewed_accuracy(auto, reopened.marks()) == 1.0
    summary = review_summary(reopened, auto)
    assert summary["review.items_per_100"] == pytest.approx(200 / 3)
    assert summary["accuracy_auto"] == pytest.approx(1 / 3) and summary["accuracy_reviewed"] == 1.0
    with pytest.raises(KeyError, match="not in review queue"):
        queue.mark("cap-France", True)
    assert not flag_for_review(queue, q("France"), answers[0], 0.5)


def test_params_and_usage_by_provider():
    s = Strategies(batching=Batching(k=3), cascade=Cascade(strong="groq/llama-3.3-70b-versatile"))
    p = s.params()
    assert p["strategy"] == "batching+cascade" and p["strategy.batching.k"] == 3
    assert p["strategy.cascade.signals"] == "abstention,verification"
    assert Strategies().label == "baseline"
    a = Answer(text="x", method="m", steps=(Step(name="a", provider="cheap", usage=Usage(calls=1, input_tokens=5)),
                                           Step(name="b", provider="strong", usage=Usage(calls=1, output_tokens=2))))
    assert {k: v.total_tokens for k, v in usage_by_provider([a]).items()} == {"cheap": 5, "strong": 2}
    assert np.isnan(strategy_metrics([], [])["accuracy"])


def test_review_panel_marks_through_clicks(tmp_path):
    from toolkit.strategies.review import ReviewItem
    from toolkit.ui.review import ReviewPanel

    queue = ReviewQueue("panel", root=tmp_path)
    for i in range(3):
        queue.add(ReviewItem(question_id=f"q{i}", question=f"<b>Q{i}</b>?", answer="x", confidence=0.2))
    seen = []
    panel = ReviewPanel(queue, reviewer="ana", on_mark=lambda item, ok: seen.append((item.question_id, ok)))
    assert "&lt;b&gt;Q0" in panel.card.value  # model/user text is escaped
    panel.correct.click()
    panel.skip.click()  # skip q1 for now
    panel.incorrect.click()  # q2
    assert panel.current.question_id == "q1"  # skipped items come back at the end
    panel.correct.click()
    assert queue.marks() == {"q0": True, "q2": False, "q1": True} and seen[0] == ("q0", True)
    assert panel.correct.disabled and "3 of 3" in panel.status.value


def test_cache_serves_repeats_within_one_pass(tmp_path):
    llm = _batcher("")
    settings = Caching()
    arm = StrategyArm(get_method("closed_book"), Strategies(caching=settings), "p",
                      cache=AnswerCache(settings, tmp_path / "c.sqlite", embed=toy_embed))
    answers = arm.answer_many([q("France"), q("Japan"), q("France")], llm)
    assert [a.flags for a in answers] == [(), (), ("cache_exact",)] and len(llm.prompts) == 2
