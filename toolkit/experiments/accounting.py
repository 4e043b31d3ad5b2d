"""What each arm really spent and how long it really took: cache replays, calls shared between arms, failed questions.

Definitions (also in the README, "What is measured"):

- A **measured** call went over the network in the run being summarised; its latency is wall time. **Network
  calls** count the requests the servers received, as they saw them: retries, 429s (the daily quota's too) and
  the attempts of calls that failed included; a cache hit is never one.
- An answer **from cache** had every model call answered by the response cache, filled by an earlier run. It costs
  nothing now and its wall time (~0 s) is not a latency: latency percentiles leave it out, and it is counted
  separately ("answered from cache: k"). Only if *every* answer of an arm came from cache are the percentiles taken
  from the latencies originally measured for those calls (stored with them), never from the ~0 s replay.
- A **shared** call is a cache hit whose original call was made by another arm of the same run (same provider,
  prompt and output), e.g. CoVe's baseline, which is the closed-book answer. It is charged to every arm that uses it,
  with its original latency and cost, because each arm on its own would have paid for it.
- A **partially cached** answer (some calls measured, some replayed, e.g. a CoVe answer whose baseline an earlier
  run left in the cache) keeps every step's original latency and cost: it is one answer, measured as if asked whole.
- **Reservation** cost (self-hosted only): accelerator-hours the endpoint was up for the run, idle time and cold
  start included, x $/hour, split evenly over the provider's arms; busy-time pricing stays beside it
  (``toolkit.experiments.reservation``). An invocation in which the endpoint answered no call charges none.
- A question that **fails** after some model calls still spent them: that spend is stored (``failures.jsonl``) and
  counted in the arm's calls, tokens and cost, and against its provider's budget; "calls spent by failed
  questions" are the requests their servers received, never a call the cache answered.
"""

import contextlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any

import numpy as np
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tracers.context import register_configure_hook

from toolkit.records import USAGE_KEY, Step, Usage

_SPEND: ContextVar["SpendCollector | None"] = ContextVar("tierlab_spend", default=None)


class SpendCollector(BaseCallbackHandler):
    """Adds up the usage of every chat-model call made while it is active (threads of ``llm.batch`` included:
    langchain copies the context into them), so a method that raises half-way still reports what it spent."""

    def __init__(self) -> None:
        self.usage = Usage()

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        """A call that failed after reaching a server still cost requests (the provider client attaches them)."""
        if isinstance(usage := getattr(error, "usage", None), Usage):
            self.usage = self.usage + usage

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        for generations in response.generations:
            for generation in generations:
                message = getattr(generation, "message", None)
                if USAGE_KEY in (getattr(message, "response_metadata", None) or {}):
                    self.usage = self.usage + Usage.from_message(message)


register_configure_hook(_SPEND, inheritable=True)


@contextlib.contextmanager
def collecting_spend(collector: SpendCollector) -> Iterator[SpendCollector]:
    """Collect into ``collector`` the usage of the chat-model calls made inside the block (by this thread and the
    threads of its batches)."""
    token = _SPEND.set(collector)
    try:
        yield collector
    finally:
        _SPEND.reset(token)


def _model_steps(steps: Iterable[Step]) -> list[Step]:
    return [s for s in steps if s.usage.calls]


def _signature(step: Step) -> tuple[str, str, str]:
    return step.provider, step.prompt, step.output


def measured_calls(records: Iterable) -> frozenset[tuple[str, str, str]]:
    """Signatures of the calls that went over the network in this run (any arm), to recognise shared calls."""
    return frozenset(_signature(s) for r in records for s in _model_steps(r.answer.steps) if not s.cached)


def shared_steps(record, measured: frozenset) -> list[Step]:
    """The record's cache hits whose original call another arm of the same run made."""
    return [s for s in _model_steps(record.answer.steps) if s.cached and _signature(s) in measured]


def from_cache(record, measured: frozenset) -> bool:
    """Every model call of the answer came from a cache filled by an earlier run (none measured, none shared)."""
    steps = _model_steps(record.answer.steps)
    return bool(steps) and all(s.cached for s in steps) and not shared_steps(record, measured)


def _replayed_steps(record) -> list[Step]:
    return [s for s in _model_steps(record.answer.steps) if s.cached]


def _latency(record) -> float:
    """Measured wall time plus the original latency of every call the answer replayed (shared or not)."""
    return record.latency_s + sum(s.usage.cached_latency_s for s in _replayed_steps(record))


def arm_cost(
    records: list,
    correct: int,
    *,
    failures: list = (),
    measured: frozenset = frozenset(),
    reserved: tuple[float, float] | None = None,
) -> dict[str, float | None]:
    """An arm's usage, cost and latency under the definitions above (keys as in ``ArmSummary.cost``).

    ``reserved``: this arm's share of its self-hosted endpoint's reservation, (accelerator-hours, $); see
    ``toolkit.experiments.reservation``."""
    usage = sum((r.answer.usage for r in records), Usage()) + sum((f.usage for f in failures), Usage())
    shared = [s for r in records for s in shared_steps(r, measured)]
    replayed = [r for r in records if from_cache(r, measured)]
    live = [r for r in records if not from_cache(r, measured)]
    cost_usd = usage.cost_usd + sum(s.usage.cached_cost_usd for r in live for s in _replayed_steps(r))
    if live:
        latencies = np.asarray([_latency(r) for r in live], dtype=float)
    else:  # every answer replayed: their originally measured latencies, not the ~0 s replay
        latencies = np.asarray([r.answer.usage.cached_latency_s for r in replayed], dtype=float)

    def per_correct(total: float) -> float | None:
        return total / correct if correct else None

    return {
        "calls": usage.calls,
        "network_calls": sum(r.answer.usage.server_requests for r in records)
        + sum(f.usage.server_requests for f in failures),
        "cached_calls": usage.cached_calls,
        "shared_calls": len(shared),
        "answered_from_cache": len(replayed),
        "latency_n": len(latencies),
        "latency_from_cache": float(not live and bool(replayed)),
        "failed_questions": len({f.question_id for f in failures}),
        "failed_calls": sum(f.usage.server_requests for f in failures),
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "rate_limited": usage.rate_limited,
        "cost_usd": cost_usd,
        "shadow_cost_usd": usage.shadow_cost_usd,
        "selfhosted_cost_usd": usage.selfhosted_cost_usd,
        "latency_p50_s": float(np.percentile(latencies, 50)) if latencies.size else None,
        "latency_p95_s": float(np.percentile(latencies, 95)) if latencies.size else None,
        "cost_per_correct_usd": per_correct(cost_usd),
        "shadow_cost_per_correct_usd": per_correct(usage.shadow_cost_usd),
        "selfhosted_cost_per_correct_usd": per_correct(usage.selfhosted_cost_usd),
        **(
            {
                "reservation_hours": reserved[0],
                "reservation_usd": reserved[1],
                "reservation_per_correct_usd": per_correct(reserved[1]),
            }
            if reserved
            else {}
        ),
    }
