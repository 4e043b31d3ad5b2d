"""How the runner reaches the other areas (datasets, providers, methods, retrieval, emulator).

One small class so the runner's control flow is testable with stand-ins, while the defaults are the real
packages, imported only when an arm actually needs them (a replay of a finished run imports none of them).
"""

import contextlib
import os
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from toolkit.experiments.spec import (
    ExperimentSpec,
    JudgeSpec,
    MethodSpec,
    ProviderSpec,
    arm_name,
    emulator_backend_url,
)
from toolkit.records import Answer, Question


def expected_calls(method: MethodSpec, callable_: Any = None) -> int:
    """Model calls one question is expected to cost (an upper-end estimate for budgets): what the method declares
    (``Method.expected_calls``; CoVe counts its variant and verification cap), else 1 for a plain callable or when
    no method was built because nothing is left to answer, times what the arm's strategies may add (a cascade's
    strong call). No second table by method name."""
    declared = getattr(callable_, "expected_calls", None)
    calls = declared if isinstance(declared, int) else 1
    return calls * (method.strategies.call_factor if method.strategies else 1)


def needs_retriever(method: MethodSpec, callable_: Any = None) -> bool:
    declared = getattr(callable_, "needs_retriever", None)
    return bool(declared) if declared is not None else method.name.startswith("rag")


def review_queue_name(run_key: str, provider: ProviderSpec, method: MethodSpec) -> str:
    """The review queue of a strategy arm with ``review`` (``toolkit.strategies.review.ReviewQueue``)."""
    from toolkit.paths import safe_name

    return f"{run_key}-{safe_name(arm_name(provider, method))}"


class Components:
    """The real collaborators. Subclass and override one method to substitute one of them."""

    review_root: Path | None = None
    """Where strategy arms keep their review queues (None: ``<home>/review``; tests point it at a temp folder)."""

    def questions(self, spec: ExperimentSpec) -> tuple[Question, ...]:
        from toolkit.datasets import load_dataset, sample

        dataset = load_dataset(spec.dataset, spec.split)
        if spec.sample_size is None:
            return tuple(q for q in dataset.questions if spec.kinds is None or q.kind in spec.kinds)
        return sample(dataset, spec.sample_size, seed=spec.seed, kinds=spec.kinds)

    def unavailable(self, provider: ProviderSpec) -> str | None:
        """Why ``provider`` cannot be called here (its API key is not set), or None when it can."""
        if provider.emulate:
            return None
        from toolkit.providers import load_catalog

        entry = load_catalog().entry(provider.id)
        if entry.key_env and not os.environ.get(entry.key_env):
            return f"${entry.key_env} is not set"
        return None

    def method(self, method: MethodSpec) -> Callable:
        from toolkit.methods import get_method

        return get_method(method.name, **method.options)

    def arm_method(self, provider: ProviderSpec, method: MethodSpec, built: Callable, run_key: str,
                   directory: Path | None) -> Callable:
        """What one arm answers with: ``built`` (the spec's method), wrapped in the method's strategies when it has
        any (``toolkit.strategies.arm.StrategyArm``). Per arm, because its answer cache (in the run folder
        ``directory``), its review queue (``<run_key>-<arm>``) and its cascade's strong model are."""
        if method.strategies is None or not method.strategies.active:
            return built
        from toolkit.metrics import get_metric
        from toolkit.paths import safe_name, subdir
        from toolkit.strategies.arm import StrategyArm
        from toolkit.strategies.caching import AnswerCache
        from toolkit.strategies.review import ReviewQueue

        strategies, arm = method.strategies, arm_name(provider, method)
        strong = cache = queue = None
        if strategies.cascade:
            cascade = strategies.cascade
            params = provider.params if cascade.params is None else cascade.params
            strong_spec = ProviderSpec(id=cascade.strong, base_url=cascade.base_url, params=params)
            strong = self.chat_model(strong_spec, strong_spec.base_url)
        if strategies.caching:
            folder = directory or subdir("strategy_cache")
            cache = AnswerCache(strategies.caching, strategies.caching.path or folder / f"answer_cache-{safe_name(arm)}.sqlite")
        if strategies.review:
            name = review_queue_name(run_key, provider, method)
            queue = ReviewQueue(name, root=self.review_root) if self.review_root else ReviewQueue(name)
        return StrategyArm(built, strategies, provider.name, strong_llm=strong, cache=cache, review_queue=queue,
                           arm=arm, scorer=get_metric("accuracy"))

    def check_endpoints(self, spec, providers) -> None:
        """Before any run folder exists: every endpoint ``providers`` will call accepts connections
        (``preconditions.Unreachable`` otherwise). Components that bring their own chat models (a subclass
        overriding ``chat_model``) call no catalog endpoint, so there is nothing to check."""
        if type(self).chat_model is Components.chat_model:
            from toolkit.experiments import preconditions

            preconditions.check_endpoints(spec, providers)

    def chat_model(self, provider: ProviderSpec, base_url: str | None):
        from toolkit.providers import get_chat_model

        params = dict(provider.params)
        if provider.emulate:
            params.setdefault("env_file", self._emulator_key_file(provider))
        return get_chat_model(
            provider.id, cache=provider.cache, base_url=base_url, emulated=provider.emulate, **params
        )

    @staticmethod
    def _emulator_key_file(provider: ProviderSpec) -> str | None:
        """A .env with a placeholder key: the emulator wants a Bearer token, never a real key (none is needed)."""
        from toolkit import paths
        from toolkit.providers import load_catalog

        key_env = load_catalog().entry(provider.id).key_env
        if not key_env or os.environ.get(key_env):
            return None
        path = paths.subdir("emulator") / f"{key_env}.env"
        tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")  # atomic: threads and Ray workers read it concurrently
        tmp.write_text(f"{key_env}=emulated-placeholder-not-a-secret\n", encoding="utf-8")
        tmp.replace(path)
        return str(path)

    def judge(self, judge: JudgeSpec):
        """The callable behind one of a spec's judges; an LLM judge asks the chat model :meth:`judge_model` builds."""
        from toolkit.judges import get_judge

        if judge.is_llm:
            return get_judge("llm", model=self.judge_model(judge))
        return get_judge(judge.name, **judge.options)

    def judge_stage(self, spec: ExperimentSpec) -> "JudgeStage":
        return JudgeStage({j.name: self.judge(j) for j in spec.judges}, spec.judges)

    def judge_model(self, judge: JudgeSpec):
        from toolkit.providers import get_chat_model

        return get_chat_model(
            judge.provider, cache=True, base_url=judge.base_url, temperature=0, max_tokens=8
        )

    def retrieval_scope(self, spec: ExperimentSpec):
        """(settings, documents to index, ``RetrievalScope``) of the spec's retriever (no embedding, no index)."""
        from toolkit.datasets import load_dataset
        from toolkit.retrieval.scope import describe, scoped

        data = load_dataset(spec.dataset, spec.split)
        questions = self.questions(spec) if spec.retriever_settings().scope == "oracle" else ()
        settings, docs = scoped(spec.retriever_settings(), data.documents, questions, seed=spec.seed)
        return settings, {doc: data.documents[doc] for doc in docs}, describe(settings, len(docs), len(data.documents))

    def retriever(self, spec: ExperimentSpec):
        """A retriever over what ``spec.retriever`` scopes (default: the whole corpus), ingested if needed.

        Ingest skips unchanged documents and embeds only text never embedded before (``toolkit.retrieval.index``),
        so after the first run this costs a hash check, not embeddings.
        """
        from toolkit.retrieval import get_retriever

        return get_retriever(self.index(spec)[0])

    def index(self, spec: ExperimentSpec):
        """(settings, ``IngestReport``, ``RetrievalScope``): the spec's index brought up to date (documents removed
        from the corpus leave a corpus-wide index too)."""
        from toolkit.retrieval import ingest

        settings, documents, scope = self.retrieval_scope(spec)
        return settings, ingest(settings, documents, prune=settings.scope == "corpus"), scope

    @contextlib.contextmanager
    def emulator(self, provider: ProviderSpec) -> Iterator[str]:
        """Base URL of a local emulator of ``provider``'s free tier, forwarding to the local model."""
        from toolkit.providers.emulator import running_emulator

        with running_emulator(provider.id, emulator_backend_url(provider), **provider.emulator_options) as base_url:
            yield base_url


class JudgeStage:
    """A spec's judges, built once: ``stage(arm, question, answer, errors) -> {judge name: Verdict}`` through
    ``judge_all``. A sampled judge (``sample: N``, a costly LLM) judges only each arm's first N answers."""

    def __init__(self, judges: dict[str, Callable], specs: tuple[JudgeSpec, ...]):
        self.judges, self.specs = judges, specs
        self.counts: dict[tuple[str, str], int] = defaultdict(int)
        self._lock = threading.Lock()

    def __call__(self, arm: str, question: Question, answer: Answer, errors: list[str] | None = None) -> dict:
        from toolkit.judges import judge_input
        from toolkit.judges.answers import judge_all

        chosen = {}
        with self._lock:
            for judge in self.specs:
                if judge.sample is None or self.counts[(arm, judge.name)] < judge.sample:
                    self.counts[(arm, judge.name)] += 1
                    chosen[judge.name] = self.judges[judge.name]
        return judge_all(chosen, judge_input(question, answer), errors)
