"""Question-level Ray tasks: the driver schedules, budgets and stores; workers only answer.

Why this shape (issue 20): a worker's disk is not the driver's, so a task never writes a store; it returns its
answer (or its failure and spend), and the driver appends it to the run's store the moment ``ray.wait`` hands it
over. One question per task keeps a lost worker's loss to the questions in flight: Ray retries them
(``max_retries``) and nothing already stored is asked again (the driver only submits unstored questions).
Budgets are the driver's ``BudgetTracker`` over the whole run (reserved before a task is submitted, settled with
the task's real spend), so caps hold globally instead of being split per arm. Each provider has at most
``provider.concurrency`` questions in flight (and the run at most ``spec.concurrency``); its quota is the cluster's
quota actor for its endpoint (``ray_quota.py``). Strategy arms: a batching arm's ``batch_size`` questions are one
task; an ordered arm (a cache) has one task in flight at a time, so its questions are answered in sample order.
A cache lives in the driver's run folder: on a multi-node cluster each node keeps its own copy there.
"""

import threading
from collections import deque
from pathlib import Path

from toolkit.experiments.budget import BudgetTracker, estimate_question, spent_by_provider
from toolkit.experiments.components import Components
from toolkit.experiments.execution import run_arms
from toolkit.experiments.spec import Budget, ExperimentSpec, arm_name
from toolkit.experiments.store import AnswerRecord, FailedAttempt
from toolkit.records import Question, Usage

MAX_RETRIES = 3
"""Retries of a question whose worker (or node) died; an exception inside the method is an answer-level error."""
TASK_CPUS = 0.25


class MemoryStore:
    """The store a worker's ``run_arms`` writes to: in memory, returned to the driver (never the worker's disk)."""

    def __init__(self):
        self.answers: list[AnswerRecord] = []
        self.failed: list[FailedAttempt] = []
        self._lock = threading.Lock()

    def records(self) -> dict:
        return {}

    def failures(self) -> list[FailedAttempt]:
        return []

    def append(self, record: AnswerRecord) -> None:
        with self._lock:
            self.answers.append(record)

    def append_failure(self, failure: FailedAttempt) -> None:
        with self._lock:
            self.failed.append(failure)


class _WorkerComponents(Components):
    """Real components, built once per worker process and run (a model or retriever per task would be slow)."""

    _built: dict = {}
    _run: str | None = None

    def __init__(self, run: str):
        if _WorkerComponents._run != run:
            _WorkerComponents._built.clear()
            _WorkerComponents._run = run

    def _once(self, key, build):
        if key not in self._built:
            self._built[key] = build()
        return self._built[key]

    def method(self, method):
        return self._once(("method", method.model_dump_json()), lambda: super(_WorkerComponents, self).method(method))

    def chat_model(self, provider, base_url):
        return self._once(("model", provider.model_dump_json(), base_url),
                          lambda: super(_WorkerComponents, self).chat_model(provider, base_url))

    def judge_model(self, judge):
        return self._once(("judge", judge.model_dump_json()), lambda: super(_WorkerComponents, self).judge_model(judge))

    def retriever(self, spec):
        return self._once(("retriever", spec.run_key()), lambda: super(_WorkerComponents, self).retriever(spec))


def answer_question(spec_json: str, provider: str, method: str, questions_json: list[str], base_urls: dict,
                    quota: dict, run: str, run_key: str, directory: str) -> dict:
    """A Ray task: one (arm, question) (a batching arm's ``batch_size`` questions), answered and judged exactly as
    a local run does (``run_arms``); ``run_key`` and ``directory`` are the driver's run (a strategy arm's cache and
    review queue)."""
    from toolkit.experiments.ray_quota import RemoteLimiter
    from toolkit.providers.chat_model import use_limiter_source

    spec = ExperimentSpec.model_validate_json(spec_json)
    chosen = next(p for p in spec.providers if p.name == provider).model_copy(update={"budget": Budget()})
    sub = spec.model_copy(update={"providers": (chosen,), "methods": tuple(m for m in spec.methods
                                                                          if m.arm_name == method)})
    questions = [Question.model_validate_json(q) for q in questions_json]

    def limiter(endpoint):
        handle = quota.get(endpoint.state_name())
        if handle is None:  # never fall back to this node's own quota files: that is the overrun this prevents
            raise RuntimeError(f"no cluster quota actor for {endpoint.entry_id} at {endpoint.base_url}; "
                               "the driver creates one per endpoint it knows (providers and the LLM judge).")
        return RemoteLimiter(handle, endpoint.entry_id)

    store = MemoryStore()
    previous = use_limiter_source(limiter)
    try:
        stopped, errors, calls = run_arms(sub, {arm_name(chosen, sub.methods[0]): questions}, store,
                                          components=_WorkerComponents(run), base_urls=base_urls,
                                          cancel=threading.Event(), run_key=run_key, directory=Path(directory))
    finally:
        use_limiter_source(previous)
    return {"answers": [r.model_dump_json() for r in store.answers],
            "failures": [f.model_dump_json() for f in store.failed],
            "stopped": stopped, "errors": errors, "calls": calls}


def run_question_tasks(spec, pending, store, base_urls, quota, cancel, on_answer, bars, run: str):
    """Drive the question tasks to completion; returns (stop reasons, errors, network calls) like ``run_arms``."""
    import ray

    task = ray.remote(num_cpus=TASK_CPUS, max_retries=MAX_RETRIES, scheduling_strategy="SPREAD")(answer_question)
    spec_ref, components, run_key = ray.put(spec.model_dump_json()), Components(), spec.run_key()
    spent = spent_by_provider(store.records().values(), store.failures())
    budgets = {p.name: BudgetTracker(p.budget, spent.get(p.name, Usage())) for p in spec.providers}
    queues = {p.name: deque() for p in spec.providers}
    from toolkit.experiments.execution import interleave

    for provider, method, questions, _ in interleave(spec, pending):
        queues[provider.name].append((provider, method, questions))
    methods = {m.arm_name: components.method(m) for m in spec.methods}
    in_flight: dict = {}  # ref -> (provider, method, questions, reserved calls, reserved tokens)
    busy = {p.name: 0 for p in spec.providers}
    ordered_busy: set[str] = set()
    stopped, errors, calls = {}, [], 0

    def stop(provider, reason):
        for method in spec.methods:
            stopped.setdefault(arm_name(provider, method), reason)
        queues[provider.name].clear()

    def next_item(queue):
        """The first queued item that may start: an ordered arm (a cache) has one task in flight at a time."""
        for i, (provider, method, questions) in enumerate(queue):
            if not (method.strategies and method.strategies.ordered) or arm_name(provider, method) not in ordered_busy:
                del queue[i]
                return provider, method, questions
        return None

    def submit():
        for provider in spec.providers:
            queue = queues[provider.name]
            while busy[provider.name] < provider.concurrency and len(in_flight) < spec.concurrency:
                if (item := next_item(queue)) is None:
                    break
                _, method, questions = item
                per_calls, per_tokens = estimate_question(provider, method, methods[method.arm_name], 1)
                reserve = per_calls * len(questions), per_tokens * len(questions)
                if reason := budgets[provider.name].reserve(*reserve):
                    stop(provider, reason)
                    break
                ref = task.remote(spec_ref, provider.name, method.arm_name, [q.model_dump_json() for q in questions],
                                  base_urls, quota, run, run_key, str(store.directory))
                in_flight[ref] = (provider, method, questions, *reserve)
                busy[provider.name] += 1
                if method.strategies and method.strategies.ordered:
                    ordered_busy.add(arm_name(provider, method))

    known = set(store.records())
    submit()
    while in_flight:
        if cancel.is_set():  # submit nothing more; the tasks in flight finish and their answers are stored
            for queue in queues.values():
                queue.clear()
        done, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.5)
        for ref in done:
            provider, method, questions, reserved_calls, reserved_tokens = in_flight.pop(ref)
            busy[provider.name] -= 1
            name = arm_name(provider, method)
            ordered_busy.discard(name)
            try:
                out = ray.get(ref)
            except Exception as error:  # retries spent (worker/node lost each time), or the task itself broke
                errors += [f"{name} / {q.id}: {type(error).__name__}: {str(error)[:300]}" for q in questions]
                budgets[provider.name].settle(reserved_calls, reserved_tokens, None)
                continue
            usage = Usage()
            for line in out["failures"]:
                failure = FailedAttempt.model_validate_json(line)
                store.append_failure(failure)
                usage = usage + failure.usage
            for line in out["answers"]:
                record = AnswerRecord.model_validate_json(line)
                usage = usage + record.answer.usage
                if record.key in known:
                    continue
                known.add(record.key)
                store.append(record)
                if name in bars:
                    bars[name].update(1)
                if on_answer is not None:
                    on_answer(record)
            budgets[provider.name].settle(reserved_calls, reserved_tokens, usage)
            errors += out["errors"]
            calls += out["calls"]
            for reason in out["stopped"].values():
                stop(provider, reason)  # a spent daily quota stops every arm of the provider, as locally
        submit()
    return stopped, errors, calls
