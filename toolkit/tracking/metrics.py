"""Metric names and values as a reviewer reads them in MLflow's charts and runs table.

Names are grouped (``quality/accuracy``, ``hallucination/rate``, ``cost/total_usd_per_question``,
``latency/p50_s``, ``usage/calls``, ``significance/…``) because MLflow's chart view makes one section per prefix
before the first ``/``. ``metric_key`` is the one mapping from TierLab's metric names to logged names; code that
reads runs back (planner, compare panel) goes through it too.
"""

import re

from toolkit.experiments.results import ArmSummary

_HALLUCINATION = {
    "hallucination_rate": "hallucination/rate",
    "entity_hallucination_rate": "hallucination/entity_rate",
    "llm_hallucination_rate": "hallucination/llm_judge_rate",
    "groundedness": "hallucination/groundedness",
    "judge_agreement": "hallucination/judge_agreement",
    "judge_kappa": "hallucination/judge_kappa",
    "judge_n": "hallucination/judge_n",
}
_LATENCY = {"latency_p50_s": "latency/p50_s", "latency_p95_s": "latency/p95_s", "latency_n": "latency/n",
            "latency_from_cache": "latency/from_cache"}
_COST = {
    "cost_usd": "cost/actual_usd",
    "shadow_cost_usd": "cost/shadow_usd",
    "selfhosted_cost_usd": "cost/selfhosted_usd",
    "cost_per_correct_usd": "cost/actual_usd_per_correct",
    "shadow_cost_per_correct_usd": "cost/shadow_usd_per_correct",
    "selfhosted_cost_per_correct_usd": "cost/selfhosted_usd_per_correct",
    "judge_cost_usd": "cost/judge_actual_usd",
    "judge_shadow_cost_usd": "cost/judge_shadow_usd",
}
_USAGE = {
    name: f"usage/{name}"
    for name in ("calls", "network_calls", "cached_calls", "input_tokens", "output_tokens", "rate_limited",
                 "answered", "planned", "correct", "judge_calls", "arms", "answers", "errors", "shared_calls",
                 "answered_from_cache", "failed_questions", "failed_calls")
}
KEYS = {**_HALLUCINATION, **_LATENCY, **_COST, **_USAGE}


def metric_key(name: str, default: str = "quality") -> str:
    """The logged name of a TierLab metric: ``accuracy`` -> ``quality/accuracy``, ``accuracy_ci_low`` ->
    ``quality/accuracy_ci_low``, ``latency_p50_s`` -> ``latency/p50_s``. Names with a ``/`` are kept; other
    unknown names go to the ``default`` group (``usage`` for an arm's accounting figures)."""
    if "/" in name:
        return name
    for suffix in ("_ci_low", "_ci_high", "_n", ""):
        base = name.removesuffix(suffix) if suffix else name
        if suffix and base == name:
            continue
        if base in KEYS:
            return KEYS[base] + suffix
    if "hallucination" in name:
        return f"hallucination/{name}"
    if name.endswith("_usd"):
        return f"cost/{name}"
    if name.startswith("latency"):
        return f"latency/{name.removeprefix('latency_')}"
    return f"{default}/{name}"


def arm_metrics(arm: ArmSummary) -> dict[str, float]:
    """An arm's metrics (value, CI bounds, n), usage, latency and the combined cost, under grouped names."""
    values: dict[str, float] = {}
    for name, interval in arm.metrics.items():
        if interval is not None:
            values |= {
                metric_key(name): interval.value,
                metric_key(f"{name}_ci_low"): interval.low,
                metric_key(f"{name}_ci_high"): interval.high,
                metric_key(f"{name}_n"): interval.n,
            }
    judged = bool(arm.cost.get("judge_calls"))  # without an LLM judge its cost lines are noise in the charts
    values |= {
        metric_key(k, default="usage"): float(v)
        for k, v in arm.cost.items()
        if v is not None and (judged or not k.startswith("judge_"))
    }
    values |= {metric_key("answered"): arm.answered, metric_key("planned"): arm.planned}
    values |= combined_cost(arm)
    return values


def combined_cost(arm: ArmSummary) -> dict[str, float]:
    """One sortable price per question, with its parts beside it.

    ``cost/total_usd_per_question`` = list price of the calls (what was charged, or what the paid tier would
    charge when nothing was — the larger of the two, so a paid call is not counted twice) + self-hosted capacity
    time. ``cost/usd_per_correct`` divides the same total by correct answers. The judge's own calls are not in it.
    """
    if not arm.answered:
        return {}
    actual = float(arm.cost.get("cost_usd") or 0.0)
    shadow = float(arm.cost.get("shadow_cost_usd") or 0.0)
    selfhosted = float(arm.cost.get("selfhosted_cost_usd") or 0.0)
    total = max(actual, shadow) + selfhosted
    values = {
        "cost/total_usd_per_question": total / arm.answered,
        "cost/actual_usd_per_question": actual / arm.answered,
        "cost/shadow_usd_per_question": shadow / arm.answered,
        "cost/selfhosted_usd_per_question": selfhosted / arm.answered,
    }
    correct = arm.cost.get("correct")
    if correct:
        values["cost/usd_per_correct"] = total / float(correct)
    return values


def slug(name: str) -> str:
    """An arm name as a metric/tag key part (MLflow allows letters, digits, ``_-. /``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def p_values(test) -> tuple[float | None, float | None, str]:
    """(p, Holm-adjusted p, test name) of a ``PairedTest``; p is None when it had too few pairs to test."""
    return test.p_value, test.p_adjusted, test.test


def significance(comparisons, alpha: float) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, str]]]:
    """Per arm: metrics (``significance/<metric>/higher_than``, ``…/lower_than``, ``…/min_p``) and a tag
    (``tierlab.significant.<metric>``: "higher than X (p=…); lower than Y (p=…)") from the paired tests that had
    enough pairs. "Higher" is neutral: for hallucination, higher is worse. Uses the Holm-adjusted p when present."""
    metrics: dict[str, dict[str, float]] = {}
    notes: dict[str, dict[str, list[str]]] = {}
    for test in comparisons:
        p, adjusted, _ = p_values(test)
        if p is None:
            continue
        used = adjusted if adjusted is not None else p
        for arm, other, sign in ((test.arm_a, test.arm_b, 1), (test.arm_b, test.arm_a, -1)):
            values = metrics.setdefault(arm, {})
            base = f"significance/{test.metric}"
            values[f"{base}/min_p"] = min(values.get(f"{base}/min_p", 1.0), used)
            values.setdefault(f"{base}/higher_than", 0.0)
            values.setdefault(f"{base}/lower_than", 0.0)
            if used < alpha and test.diff * sign != 0:
                direction = "higher_than" if test.diff * sign > 0 else "lower_than"
                values[f"{base}/{direction}"] += 1
                notes.setdefault(arm, {}).setdefault(test.metric, []).append(
                    f"{direction.replace('_', ' ')} {other} (p={used:.3g})"
                )
    tags = {
        arm: {f"tierlab.significant.{metric}": "; ".join(items) for metric, items in by_metric.items()}
        for arm, by_metric in notes.items()
    }
    return metrics, tags


def test_rows(comparisons) -> list[dict]:
    """The paired tests as table rows, with the p-value as reports show it ("too few to test" below the minimum n)."""
    return [{**t.model_dump(mode="json"), "p_shown": t.p_text(adjusted=t.p_adjusted is not None)} for t in comparisons]
