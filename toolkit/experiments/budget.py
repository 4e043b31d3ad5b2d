"""Budgets: what a provider may still spend, and the pre-flight estimate shown before a run starts.

A ``BudgetTracker`` is shared by all arms of one provider (threads), so its caps hold across arms; cached
calls cost nothing and do not count.
"""

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable

from toolkit.experiments.components import expected_calls
from toolkit.experiments.results import ArmEstimate
from toolkit.experiments.spec import Budget, ExperimentSpec, MethodSpec, ProviderSpec, arm_name
from toolkit.experiments.store import AnswerRecord, FailedAttempt
from toolkit.records import Question, Usage

TOKENS_PER_CALL_PROMPT = 400
"""Rough prompt size for the pre-flight token estimate (plus each call's max_tokens)."""


class BudgetTracker:
    """One provider's spending against its caps, shared by its arms' threads.

    Before a question starts, its expected calls and tokens are reserved; a question whose reservation would
    cross a cap does not start (so caps are never overrun by more than an estimate's error).
    """

    def __init__(self, budget: Budget, spent: Usage | None = None, share: float = 1.0):
        self.budget, self.share = budget, share
        spent = spent or Usage()
        self.requests, self.tokens, self.usd = (
            spent.calls - spent.cached_calls,
            spent.total_tokens,
            spent.cost_usd,
        )
        self.reserved_requests = self.reserved_tokens = 0
        self._lock = threading.Lock()

    def _cap(self, value: float | None) -> float | None:
        return None if value is None else value * self.share

    def reserve(self, calls: int, tokens: int) -> str | None:
        """Reserve a question's expected spend, or say which cap it would cross."""
        with self._lock:
            cap = self._cap(self.budget.max_requests)
            if cap is not None and self.requests + self.reserved_requests + calls > cap:
                return f"budget: max_requests={self.budget.max_requests} reached"
            cap = self._cap(self.budget.max_tokens)
            if cap is not None and self.tokens + self.reserved_tokens + tokens > cap:
                return f"budget: max_tokens={self.budget.max_tokens} reached"
            cap = self._cap(self.budget.max_usd)
            if cap is not None and self.usd >= cap:
                return f"budget: max_usd={self.budget.max_usd} reached"
            self.reserved_requests += calls
            self.reserved_tokens += tokens
            return None

    def settle(self, calls: int, tokens: int, usage: Usage | None) -> None:
        with self._lock:
            self.reserved_requests -= calls
            self.reserved_tokens -= tokens
            if usage is not None:
                self.requests += usage.calls - usage.cached_calls
                self.tokens += usage.total_tokens if usage.calls > usage.cached_calls else 0
                self.usd += usage.cost_usd


def estimate_question(
    provider: ProviderSpec, method: MethodSpec, method_callable, pending: int
) -> tuple[int, int]:
    calls = expected_calls(method, method_callable)
    max_tokens = int(provider.params.get("max_tokens", 256))
    return calls, calls * (TOKENS_PER_CALL_PROMPT + max_tokens)


def preflight(
    spec: ExperimentSpec,
    pending: dict[str, list[Question]],
    methods: dict[str, Callable],
    spent: dict[str, Usage],
) -> tuple[ArmEstimate, ...]:
    """Expected calls and tokens per arm for the questions still to answer, flagged where a cap would be crossed."""
    estimates, totals = [], defaultdict(lambda: [0, 0])
    for provider, method in spec.arms():
        name = arm_name(provider, method)
        per_call, per_tokens = estimate_question(provider, method, methods[method.arm_name], 0)
        n = len(pending[name])
        estimates.append(
            (
                provider,
                ArmEstimate(
                    arm=name, provider=provider.name, pending=n, calls=n * per_call, tokens=n * per_tokens
                ),
            )
        )
        totals[provider.name][0] += n * per_call
        totals[provider.name][1] += n * per_tokens
    flagged = []
    for provider, estimate in estimates:
        calls, tokens = totals[provider.name]
        used = spent.get(provider.name, Usage())
        over = None
        if (
            provider.budget.max_requests is not None
            and used.calls - used.cached_calls + calls > provider.budget.max_requests
        ):
            over = f"~{calls} more requests vs max_requests={provider.budget.max_requests}"
        elif (
            provider.budget.max_tokens is not None and used.total_tokens + tokens > provider.budget.max_tokens
        ):
            over = f"~{tokens} more tokens vs max_tokens={provider.budget.max_tokens}"
        flagged.append(estimate.model_copy(update={"over_budget": over}))
    return tuple(flagged)


def format_preflight(estimates: tuple[ArmEstimate, ...]) -> str:
    lines = ["pre-flight (questions still to answer, expected model calls and tokens):"]
    for e in estimates:
        warn = (
            f"  !! would exceed the budget ({e.over_budget}); the arm stops at the cap"
            if e.over_budget
            else ""
        )
        lines.append(f"  {e.arm}: {e.pending} questions, ~{e.calls} calls, ~{e.tokens} tokens{warn}")
    return "\n".join(lines)


def spent_by_provider(
    records: Iterable[AnswerRecord], failures: Iterable[FailedAttempt] = ()
) -> dict[str, Usage]:
    """What the stored answers, and the failed attempts, already spent per provider (counts against the caps on
    resume: a failed question's calls were paid too)."""
    spent: dict[str, Usage] = defaultdict(Usage)
    for record in records:
        spent[record.provider] = spent[record.provider] + record.answer.usage
    for failure in failures:
        spent[failure.provider] = spent[failure.provider] + failure.usage
    return spent
