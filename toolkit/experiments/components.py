"""How the runner reaches the other areas (datasets, providers, methods, retrieval, emulator).

One small class so the runner's control flow is testable with stand-ins, while the defaults are the real
packages, imported only when an arm actually needs them (a replay of a finished run imports none of them).
"""

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

from toolkit.experiments.spec import ExperimentSpec, JudgeSpec, MethodSpec, ProviderSpec
from toolkit.records import Question

DEFAULT_VERIFICATION_QUESTIONS = 3
_CALLS = {"closed_book": 1, "rag": 1, "cove_joint": 3, "cove_two_step": 4}
"""Model calls per question when a method does not say (CoVe: baseline, plan/execute, final)."""


def expected_calls(method: MethodSpec, callable_: Any = None) -> int:
    """Model calls one question costs with this method: the method's own ``expected_calls`` if it has one."""
    declared = getattr(callable_, "expected_calls", None)
    if isinstance(declared, int):
        return declared
    if callable(declared):
        return int(declared())
    n = int(method.options.get("max_verification_questions", DEFAULT_VERIFICATION_QUESTIONS))
    if method.name in _CALLS:
        return _CALLS[method.name]
    if method.name == "cove_factor_revise":
        return 3 + 2 * n
    return 3 + n  # cove_factored, rag_cove and other factored variants


def needs_retriever(method: MethodSpec, callable_: Any = None) -> bool:
    declared = getattr(callable_, "needs_retriever", None)
    return bool(declared) if declared is not None else method.name.startswith("rag")


class Components:
    """The real collaborators. Subclass and override one method to substitute one of them."""

    def questions(self, spec: ExperimentSpec) -> tuple[Question, ...]:
        from toolkit.datasets import load_dataset, sample

        dataset = load_dataset(spec.dataset, spec.split)
        if spec.sample_size is None:
            return tuple(q for q in dataset.questions if spec.kinds is None or q.kind in spec.kinds)
        return sample(dataset, spec.sample_size, seed=spec.seed, kinds=spec.kinds)

    def method(self, method: MethodSpec) -> Callable:
        from toolkit.methods import get_method

        return get_method(method.name, **method.options)

    def chat_model(self, provider: ProviderSpec, base_url: str | None):
        from toolkit.providers import get_chat_model

        return get_chat_model(
            provider.id, cache=provider.cache, base_url=base_url, emulated=provider.emulate, **provider.params
        )

    def judge_model(self, judge: JudgeSpec):
        from toolkit.providers import get_chat_model

        return get_chat_model(
            judge.provider, cache=True, base_url=judge.base_url, temperature=0, max_tokens=8
        )

    def retriever(self, spec: ExperimentSpec):
        from toolkit.retrieval import RetrieverSettings, get_retriever

        return get_retriever(RetrieverSettings(**spec.retriever))

    @contextlib.contextmanager
    def emulator(self, provider: ProviderSpec) -> Iterator[str]:
        """Base URL of a local emulator of ``provider``'s free tier, forwarding to the local model."""
        from toolkit.providers.emulator import running_emulator

        backend = provider.emulator_backend or os.environ.get("TIERLAB_LOCAL_URL", "http://127.0.0.1:8000/v1")
        with running_emulator(provider.id, backend, **provider.emulator_options) as base_url:
            yield base_url
