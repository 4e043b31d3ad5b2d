"""One strategy arm: a method plus the strategies around it, callable per question or over many.

``StrategyArm.__call__(question, llm, retriever)`` has the method signature (caching, trimming, cascade and review
all work per question). ``answer_many`` is the arm-level entry that also batches: the experiments runner hands a
batching arm ``Strategies.batch_size`` questions at a time, and a caching arm's questions one at a time in sample order
(``Strategies.ordered``), so the cache holds every answer given before, as traffic would arrive.
"""

import threading
from collections.abc import Callable, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever

from toolkit.records import Answer, Question
from toolkit.strategies.batching import answer_batched
from toolkit.strategies.caching import AnswerCache
from toolkit.strategies.cascade import cascade_answer
from toolkit.strategies.review import ReviewQueue, flag_for_review
from toolkit.strategies.spec import Strategies
from toolkit.strategies.trimming import TrimmingRetriever

Scorer = Callable[[Question, Answer], float | None]


class StrategyArm:
    """Holds the arm's long-lived parts (answer cache, strong model, review queue); no global state."""

    def __init__(
        self,
        method: Callable,
        strategies: Strategies,
        provider: str,
        *,
        strong_llm: BaseChatModel | None = None,
        cache: AnswerCache | None = None,
        review_queue: ReviewQueue | None = None,
        arm: str = "",
        scorer: Scorer | None = None,
    ):
        if strategies.cascade and strong_llm is None:
            raise ValueError(f"cascade needs the strong model: build it for {strategies.cascade.strong!r} and pass strong_llm")
        if strategies.review and review_queue is None:
            raise ValueError("review needs a review_queue (toolkit.strategies.review.ReviewQueue(name))")
        if strategies.batching and getattr(method, "needs_retriever", False):
            raise ValueError(
                f"batching answers k questions closed-book in one prompt; method {getattr(method, 'name', method)!r} "
                "retrieves. Use batching with closed_book, or drop batching for this arm."
            )
        self.method, self.strategies, self.provider = method, strategies, provider
        self.strong_llm, self.review_queue, self.arm, self.scorer = strong_llm, review_queue, arm, scorer
        self.cache = cache or (AnswerCache(strategies.caching) if strategies.caching else None)
        self.method_name = getattr(method, "name", str(method))
        self._lock = threading.Lock()  # one answer_many at a time: the cache is read and written in order

    def _retriever(self, retriever: BaseRetriever | None) -> BaseRetriever | None:
        if retriever is not None and self.strategies.trimming:
            return TrimmingRetriever(inner=retriever, settings=self.strategies.trimming)
        return retriever

    def _single(self, llm: BaseChatModel, retriever: BaseRetriever | None) -> Callable[[Question], Answer]:
        def with_model(question: Question, model: BaseChatModel) -> Answer:
            return self.method(question, model, retriever=retriever)

        def single(question: Question) -> Answer:
            if self.strategies.cascade:
                return cascade_answer(question, with_model, llm, self.strong_llm, self.strategies.cascade)
            return with_model(question, llm)

        return single

    def _escalate_batched(self, question: Question, answer: Answer, llm, retriever) -> Answer:
        """Batched answers get the cascade's signals too (batching alone gives no verification or retrieval)."""
        if not self.strategies.cascade or "batched" not in answer.flags:
            return answer
        return cascade_answer(question, lambda q, m: self.method(q, m, retriever=retriever), llm, self.strong_llm,
                              self.strategies.cascade, first=answer)

    def answer_many(self, questions: Sequence[Question], llm: BaseChatModel,
                    retriever: BaseRetriever | None = None) -> list[Answer]:
        """Answers in question order, as traffic would arrive: each question first tries the cache (which holds
        every answer given so far), misses are answered (k at a time when batching) and stored; then review."""
        with self._lock:
            return self._answer_many(questions, llm, retriever)

    def _answer_many(self, questions: Sequence[Question], llm: BaseChatModel,
                     retriever: BaseRetriever | None) -> list[Answer]:
        retriever = self._retriever(retriever)
        single = self._single(llm, retriever)
        k = self.strategies.batch_size
        answers: list[Answer | None] = [None] * len(questions)  # by position: a repeated question may reuse an id
        waiting: list[tuple[int, Question]] = []

        def flush() -> None:
            asked = [q for _, q in waiting]
            if self.strategies.batching:
                fresh = answer_batched(asked, llm, single, self.method_name, k)
                fresh = [self._escalate_batched(q, a, llm, retriever) for q, a in zip(asked, fresh, strict=True)]
            else:
                fresh = [single(q) for q in asked]
            for (i, q), a in zip(waiting, fresh, strict=True):
                if self.cache:
                    self.cache.store(q, self.provider, self.method_name, a)
                answers[i] = a
            waiting.clear()

        for i, q in enumerate(questions):
            hit = self.cache.lookup(q, self.provider, self.method_name) if self.cache else None
            if hit is not None:
                answers[i] = hit
                continue
            waiting.append((i, q))
            if len(waiting) >= k:
                flush()
        if waiting:
            flush()
        for q, a in zip(questions, answers, strict=True):
            self._review(q, a)
        return answers

    def _review(self, question: Question, answer: Answer) -> None:
        if self.strategies.review:
            auto = self.scorer(question, answer) if self.scorer else None
            flag_for_review(self.review_queue, question, answer, self.strategies.review.threshold, self.arm, auto)

    def __call__(self, question: Question, llm: BaseChatModel, retriever: BaseRetriever | None = None) -> Answer:
        if self.strategies.batching:
            raise ValueError("a batching arm answers many questions at once: call answer_many(questions, llm, retriever)")
        return self.answer_many([question], llm, retriever)[0]
