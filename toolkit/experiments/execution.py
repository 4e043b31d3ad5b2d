"""Answering in threads: one invocation's arms over their pending questions, judged and stored as they arrive.

Plain threads (a ``ThreadPoolExecutor``) bound the work: ``spec.concurrency`` questions in flight overall and
``provider.concurrency`` per provider, so the same synchronous call works in a script and inside Jupyter's running
event loop (no asyncio.run, no nest_asyncio).
"""

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path

from toolkit.experiments.accounting import SpendCollector, collecting_spend
from toolkit.experiments.budget import BudgetTracker, estimate_question, spent_by_provider
from toolkit.experiments.components import Components, needs_retriever
from toolkit.experiments.spec import ExperimentSpec, MethodSpec, ProviderSpec, arm_name
from toolkit.experiments.store import AnswerRecord, FailedAttempt, Store
from toolkit.providers.cancel import CallCancelled, stopping
from toolkit.records import Question, Usage

OnAnswer = Callable[[AnswerRecord], None]


class _Execution:
    """One invocation's shared state: resources built on first use, budgets, stop reasons, progress."""

    def __init__(
        self,
        spec: ExperimentSpec,
        components: Components,
        store: Store,
        base_urls: dict[str, str | None],
        budgets: dict[str, BudgetTracker],
        cancel: threading.Event,
        on_answer: OnAnswer | None,
        bars: dict,
    ):
        self.spec, self.components, self.store, self.base_urls = spec, components, store, base_urls
        self.budgets, self.cancel, self.on_answer, self.bars = budgets, cancel, on_answer, bars
        self.methods: dict[str, Callable] = {}
        self.arms: dict[str, Callable] = {}
        self.run_key: str = ""
        self.directory: Path | None = None
        self._turns = threading.Condition()
        self._next_turn: dict[str, int] = {}
        self.models: dict[str, object] = {}
        self.retriever = None
        self.judges = None
        self.stopped: dict[str, str] = {}
        self.errors: list[str] = []
        self.network_calls = 0
        self.semaphores = {p.name: threading.Semaphore(p.concurrency) for p in spec.providers}
        self._lock = threading.Lock()

    def _resource(self, kind: str, key: str, build: Callable):
        with self._lock:
            cache = getattr(self, kind)
            if key not in cache:
                cache[key] = build()
            return cache[key]

    def _shared(self, attr: str, build: Callable):
        with self._lock:
            if getattr(self, attr) is None:
                setattr(self, attr, build())
            return getattr(self, attr)

    def stop_provider(self, provider: ProviderSpec, reason: str) -> None:
        for method in self.spec.methods:
            self.stopped.setdefault(arm_name(provider, method), reason)

    def answer(self, provider: ProviderSpec, method: MethodSpec, questions: tuple[Question, ...], turn: int) -> None:
        """Answer one work item: a question, or a batching arm's ``batch_size`` questions in one go."""
        arm = arm_name(provider, method)
        with self._in_turn(arm, turn, bool(method.strategies and method.strategies.ordered)):
            if self.cancel.is_set() or arm in self.stopped:
                return
            with self.semaphores[provider.name]:
                if self.cancel.is_set() or arm in self.stopped:
                    return
                self._answer(provider, method, questions)

    @contextlib.contextmanager
    def _in_turn(self, arm: str, turn: int, ordered: bool):
        """An ordered arm's items one after another in sample order (the pool starts them in that order, so the one
        waited for is already running); cancel ends the wait."""
        if not ordered:
            yield
            return
        with self._turns:
            while self._next_turn.get(arm, 0) != turn and not self.cancel.is_set():
                self._turns.wait(timeout=0.5)
        try:
            yield
        finally:
            with self._turns:
                self._next_turn[arm] = turn + 1
                self._turns.notify_all()

    def _answer(self, provider: ProviderSpec, method: MethodSpec, questions: tuple[Question, ...]) -> None:
        arm = arm_name(provider, method)
        method_callable = self._resource("methods", method.arm_name, lambda: self.components.method(method))
        calls, tokens = estimate_question(provider, method, method_callable, 1)
        calls, tokens = calls * len(questions), tokens * len(questions)
        reason = self.budgets[provider.name].reserve(calls, tokens)
        if reason:
            self.stop_provider(provider, reason)
            return
        usage, spend = None, SpendCollector()
        try:
            llm = self._resource(
                "models",
                provider.name,
                lambda: self.components.chat_model(provider, self.base_urls.get(provider.name)),
            )
            answering = self._resource("arms", arm, lambda: self.components.arm_method(
                provider, method, method_callable, self.run_key, self.directory))
            retriever = None
            if needs_retriever(method, method_callable):
                retriever = self._shared("retriever", lambda: self.components.retriever(self.spec))
            with collecting_spend(spend), stopping(self.cancel):
                started = time.perf_counter()
                if hasattr(answering, "answer_many"):
                    answers = answering.answer_many(questions, llm, retriever)
                else:
                    answers = [answering(question, llm, retriever=retriever) for question in questions]
                latency = (time.perf_counter() - started) / len(questions)
            usage = sum((answer.usage for answer in answers), Usage())
        except Exception as error:  # one failed question must not sink the experiment
            message = f"{type(error).__name__}: {str(error)[:300]}"
            if type(error).__name__ == "QuotaExhausted":
                self.stop_provider(provider, f"quota: {error}")
            elif not isinstance(error, CallCancelled):  # cancelled: asked again on the next run
                self.errors += [f"{arm} / {question.id}: {message}" for question in questions]
            usage = spend.usage
            if usage.server_requests:  # what its servers received before it failed was paid (cache hits: not)
                self.store.append_failure(
                    FailedAttempt(
                        arm=arm,
                        provider=provider.name,
                        question_id=questions[0].id,
                        error=message,
                        usage=usage,
                    )
                )
                with self._lock:
                    self.network_calls += usage.server_requests
            return
        finally:
            self.budgets[provider.name].settle(calls, tokens, usage)
        with self._lock:
            self.network_calls += usage.server_requests
        for question, answer in zip(questions, answers, strict=True):
            self._record(provider, method, question, answer, latency)

    def _record(
        self, provider: ProviderSpec, method: MethodSpec, question: Question, answer, latency: float
    ) -> None:
        arm = arm_name(provider, method)
        errors: list[str] = []
        stage = self._shared("judges", lambda: self.components.judge_stage(self.spec))
        verdicts = stage(arm, question, answer, errors)
        self.errors += [f"{arm} / {question.id}: {error}" for error in errors]
        record = AnswerRecord(
            arm=arm,
            provider=provider.name,
            method=method.arm_name,
            question=question,
            answer=answer,
            latency_s=latency,
            verdicts=verdicts,
        )
        self.store.append(record)
        if arm in self.bars:
            self.bars[arm].update(1)
        if self.on_answer is not None:
            self.on_answer(record)

    def run(self, work: list[tuple[ProviderSpec, MethodSpec, Question]]) -> None:
        """Answer ``work`` in the pool; once ``cancel`` is set, queued questions are dropped unstarted and only
        the calls in flight finish (the wait wakes up at least every half second to notice)."""
        with ThreadPoolExecutor(self.spec.concurrency, thread_name_prefix="tierlab-arm") as pool:
            futures = [pool.submit(self.answer, *item) for item in work]
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
                for future in done:
                    future.result()
                if self.cancel.is_set():
                    pool.shutdown(wait=True, cancel_futures=True)
                    break


WorkItem = tuple[ProviderSpec, MethodSpec, tuple[Question, ...], int]
"""(provider, method, the questions answered together, the item's place in its arm's order)."""


def interleave(spec: ExperimentSpec, pending: dict[str, list[Question]]) -> list[WorkItem]:
    """Question-major order, so every arm progresses together and a cancel leaves comparable arms; a batching
    arm's questions come ``batch_size`` at a time (``Strategies.batch_size``)."""
    chunks = {}
    for provider, method in spec.arms():
        size = method.strategies.batch_size if method.strategies else 1
        questions = pending[arm_name(provider, method)]
        chunks[arm_name(provider, method)] = [tuple(questions[i:i + size]) for i in range(0, len(questions), size)]
    work = []
    longest = max((len(v) for v in chunks.values()), default=0)
    for i in range(longest):
        for provider, method in spec.arms():
            items = chunks[arm_name(provider, method)]
            if i < len(items):
                work.append((provider, method, items[i], i))
    return work


def run_arms(
    spec: ExperimentSpec,
    pending: dict[str, list[Question]],
    store: Store,
    *,
    components: Components,
    base_urls: dict[str, str | None],
    cancel: threading.Event,
    on_answer: OnAnswer | None = None,
    bars: dict | None = None,
    budget_share: float = 1.0,
    run_key: str | None = None,
    directory: Path | None = None,
) -> tuple[dict[str, str], list[str], int]:
    """Answer the pending questions of the spec's arms; returns (stop reasons, errors, network calls).

    ``run_key`` and ``directory`` name the run whose arms these are (default: ``spec``'s, and the store's folder);
    a Ray worker answering part of a run passes the driver's."""
    spent = spent_by_provider(store.records().values(), store.failures())
    budgets = {
        p.name: BudgetTracker(p.budget, spent.get(p.name, Usage()), budget_share) for p in spec.providers
    }
    execution = _Execution(spec, components, store, base_urls, budgets, cancel, on_answer, bars or {})
    execution.run_key = run_key or spec.run_key()
    execution.directory = directory or getattr(store, "directory", None)
    execution.run(interleave(spec, pending))
    return execution.stopped, execution.errors, execution.network_calls
