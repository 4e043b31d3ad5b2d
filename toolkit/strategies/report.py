"""What each strategy arm saved and cost, against the plain baseline arm on the same questions.

Numbers come from the answers alone (their steps carry usage and provider), so a finished run can be re-reported
without any model call.
"""

from collections import defaultdict
from collections.abc import Sequence

from toolkit.records import Answer, Usage


def usage_by_provider(answers: Sequence[Answer]) -> dict[str, Usage]:
    """Quota consumed per provider (calls and tokens), from every step of every answer."""
    totals: dict[str, Usage] = defaultdict(Usage)
    for answer in answers:
        for step in answer.steps:
            if step.usage.calls or step.usage.cached_calls:
                totals[step.provider or "cache"] = totals[step.provider or "cache"] + step.usage
    return dict(totals)


def strategy_metrics(answers: Sequence[Answer], correct: Sequence[float | None]) -> dict[str, float]:
    """Calls, tokens, money, cache/batch/cascade counters and accuracy for one arm (flat, MLflow-ready)."""
    n = len(answers)
    usage = sum((a.usage for a in answers), Usage())
    scored = [c for c in correct if c is not None]
    right = sum(scored)
    semantic = [(a, c) for a, c in zip(answers, correct, strict=True) if "cache_semantic" in a.flags]
    out = {
        "questions": float(n),
        "calls": float(usage.calls),
        "calls_per_question": usage.calls / n if n else 0.0,
        "input_tokens": float(usage.input_tokens),
        "output_tokens": float(usage.output_tokens),
        "tokens_per_question": usage.total_tokens / n if n else 0.0,
        "cost_usd": usage.cost_usd,
        "shadow_cost_usd": usage.shadow_cost_usd,
        "selfhosted_cost_usd": usage.selfhosted_cost_usd,
        "accuracy": right / len(scored) if scored else float("nan"),
        "cache_hits_exact": float(sum("cache_exact" in a.flags for a in answers)),
        "cache_hits_semantic": float(len(semantic)),
        "semantic_hits_wrong": float(sum(1 for _, c in semantic if c is not None and c < 1)),
        "batched": float(sum("batched" in a.flags for a in answers)),
        "batch_retries": float(sum("batch_retry" in a.flags for a in answers)),
        "escalated": float(sum("escalated" in a.flags for a in answers)),
    }
    out["cache_hit_rate"] = (out["cache_hits_exact"] + out["cache_hits_semantic"]) / n if n else 0.0
    out["escalated_share"] = out["escalated"] / n if n else 0.0
    for kind in ("cost_usd", "shadow_cost_usd", "selfhosted_cost_usd"):
        out[f"{kind}_per_correct"] = out[kind] / right if right else float("nan")
    for provider, u in usage_by_provider(answers).items():
        out[f"quota.{provider}.calls"] = float(u.calls)
        out[f"quota.{provider}.tokens"] = float(u.total_tokens)
    return out


def savings(arm: dict[str, float], baseline: dict[str, float]) -> dict[str, float]:
    """Calls and tokens saved relative to the baseline (fractions; negative = the arm used more)."""

    def saved(now: float, before: float) -> float:
        return 1 - now / before if before else 0.0

    return {
        "calls_saved": saved(arm["calls"], baseline["calls"]),
        "input_tokens_saved": saved(arm["input_tokens"], baseline["input_tokens"]),
        "tokens_saved": saved(arm["input_tokens"] + arm["output_tokens"],
                              baseline["input_tokens"] + baseline["output_tokens"]),
    }


def change_text(saved: float) -> str:
    """A ``savings`` fraction in words: ``0.17`` -> ``17% fewer``, ``-0.047`` -> ``4.7% more`` (never a bare negative
    "saving")."""
    if abs(saved) < 0.0005:
        return "same"
    share = f"{abs(saved):.0%}" if abs(saved) >= 0.1 else f"{abs(saved):.1%}"
    return f"{share} fewer" if saved > 0 else f"{share} more"
