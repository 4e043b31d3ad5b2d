"""Metric names and values as a reviewer reads them in MLflow's charts and runs table.

An arm run logs a compact, fixed set of metrics, grouped by the prefix MLflow's chart view makes a section of:
the headline quality and hallucination figures (``quality/accuracy``, ``hallucination/rate`` …), cost per 1,000
questions (``cost/total_usd_per_1k_questions`` …, readable where a per-question price would chart as 0.00),
latency percentiles and the usage counts. Confidence intervals are params (``ci/quality/accuracy`` =
``0.5 [0.15, 0.85] n=4``), not three extra metrics each; the other accounting figures are ``accounting.*`` params.
Significance lives on the parent run (``significance/…`` metrics, ``tierlab.significant.*`` tags, description).
``metric_key`` is the one mapping from TierLab's metric names to logged names; code that reads runs back
(planner, compare panel) goes through it and ``parse_interval``.
"""

import re

from toolkit.experiments.results import ArmSummary, total_cost_usd
from toolkit.metrics import headline_metrics, retrieval_metrics

_HALLUCINATION = {
    "hallucination_rate": "hallucination/rate",
    "entity_hallucination_rate": "hallucination/entity_rate",
    "llm_hallucination_rate": "hallucination/llm_judge_rate",
    "groundedness": "hallucination/groundedness",
}
_LATENCY = {"latency_p50_s": "latency/p50_s", "latency_p95_s": "latency/p95_s"}
USAGE = ("answered", "planned", "calls", "network_calls", "input_tokens", "output_tokens", "rate_limited")
"""The usage counts logged as metrics (the planner reads calls and tokens per answer from them)."""
_RETRIEVAL = {name: f"retrieval/{name}" for name in retrieval_metrics()}
KEYS = {**_HALLUCINATION, **_LATENCY, **{name: f"usage/{name}" for name in USAGE}, **_RETRIEVAL}
CHARTED = (*headline_metrics(), "llm_hallucination_rate", *retrieval_metrics())
"""The arm-level estimates logged as metrics (retrieval quality also per question kind, ``retrieval/<metric>/<kind>``);
every other metric's value is in its ``ci/…`` param."""
PER = 1000
COST_PARTS = {"charged": "cost_usd", "paid_tier": "shadow_cost_usd", "selfhosted": "selfhosted_cost_usd"}
"""Cost metric part -> ``ArmSummary.cost`` key: what was charged, what the paid tier would have charged (the
shadow price), self-hosted capacity time."""
_SHOWN = {*USAGE, *_LATENCY, *COST_PARTS.values(), "judge_cost_usd", "cost_per_correct_usd",
          "shadow_cost_per_correct_usd", "selfhosted_cost_per_correct_usd", "reservation_per_correct_usd"}


def metric_key(name: str, default: str = "quality") -> str:
    """The logged name of a TierLab metric: ``accuracy`` -> ``quality/accuracy``, ``hallucination_rate`` ->
    ``hallucination/rate``, ``latency_p50_s`` -> ``latency/p50_s``, ``answered`` -> ``usage/answered``. Names with
    a ``/`` are kept; other unknown names go to the ``default`` group."""
    if "/" in name:
        return name
    if name in KEYS:
        return KEYS[name]
    if "hallucination" in name:
        return f"hallucination/{name}"
    return f"{default}/{name}"


def interval_text(interval) -> str:
    """``0.5 [0.15, 0.85] n=4``: an ``Interval`` as a param value (4 significant digits)."""
    return f"{interval.value:.4g} [{interval.low:.4g}, {interval.high:.4g}] n={interval.n}"


_INTERVAL = re.compile(r"^(\S+) \[(\S+), (\S+)\] n=(\d+)$")


def parse_interval(text) -> tuple[float, float, float, int] | None:
    """(value, low, high, n) from an ``interval_text`` param; None for anything else (a missing param)."""
    match = _INTERVAL.match(text) if isinstance(text, str) else None
    if not match:
        return None
    value, low, high, n = match.groups()
    return float(value), float(low), float(high), int(n)


def arm_metrics(arm: ArmSummary) -> dict[str, float]:
    """An arm's headline estimates, latency percentiles, usage counts and cost per 1,000 questions."""
    values = {metric_key(name): i.value for name, i in arm.metrics.items() if i is not None and name in CHARTED}
    cost = arm.cost
    values |= {metric_key(k): float(cost[k]) for k in (*_LATENCY, *USAGE) if cost.get(k) is not None}
    values |= {metric_key("answered"): arm.answered, metric_key("planned"): arm.planned}
    values |= {
        f"{metric_key(name)}/{kind}": interval.value
        for kind, by_name in arm.retrieval_by_kind.items()
        for name, interval in by_name.items()
        if interval is not None
    }
    return values | cost_metrics(arm)


def arm_params(arm: ArmSummary) -> dict[str, object]:
    """Every metric's interval (``ci/<logged name>``) and the accounting figures not charted
    (``accounting.<name>``: cache replays, shared and failed calls, judge agreement, reservation …)."""
    params: dict[str, object] = {f"ci/{metric_key(n)}": interval_text(i) for n, i in arm.metrics.items() if i}
    return params | {f"accounting.{k}": int(v) if float(v).is_integer() else v
                     for k, v in arm.cost.items() if k not in _SHOWN and v is not None}


def cost_metrics(arm: ArmSummary) -> dict[str, float]:
    """Dollars per 1,000 questions answered, one sortable total with its parts beside it.

    ``cost/total_usd_per_1k_questions`` is ``total_cost_usd`` (the larger of what was charged and the paid tier's
    price, + self-hosted capacity time) per 1,000 answers; ``cost/total_usd_per_1k_correct`` divides the same total
    by correct answers. An LLM judge's own calls are not in it (``cost/judge_usd_per_1k_questions``).
    """
    if not arm.answered:
        return {}
    cost = arm.cost
    parts = {part: float(cost.get(key) or 0.0) for part, key in COST_PARTS.items()}
    total = total_cost_usd(cost)
    per_question = PER / arm.answered
    values = {"cost/total_usd_per_1k_questions": total * per_question}
    values |= {f"cost/{part}_usd_per_1k_questions": spent * per_question for part, spent in parts.items()}
    if cost.get("correct"):
        values["cost/total_usd_per_1k_correct"] = total * PER / float(cost["correct"])
    if cost.get("judge_calls"):
        values["cost/judge_usd_per_1k_questions"] = float(cost.get("judge_cost_usd") or 0.0) * per_question
    return values


def significance(comparisons, alpha: float, names: dict[str, str] | None = None):
    """The paired tests as (parent metrics, parent tags, per-arm tags), using the Holm-adjusted p where present.

    Parent metrics per tested metric: ``significance/<metric>/significant_pairs``, ``…/tested_pairs`` and
    ``…/min_p_holm``, plus ``significance/too_few_to_test`` (tests with fewer pairs than a test needs). Tags
    ``tierlab.significant.<metric>`` on the parent list the significant pairs ("rag · local > closed_book · local
    (+0.50, p=0.004)"); on each arm they say what it is higher or lower than. "Higher" is neutral: for
    hallucination, higher is worse. ``names`` maps arm ids to the names the runs table shows.
    """
    names = names or {}
    metrics: dict[str, float] = {"significance/too_few_to_test": float(sum(t.p_value is None for t in comparisons))}
    found: dict[str, list[str]] = {}
    arm_notes: dict[str, dict[str, list[str]]] = {}
    for test in comparisons:
        if test.p_value is None:
            continue
        p = test.p_adjusted if test.p_adjusted is not None else test.p_value
        base = f"significance/{test.metric}"
        metrics[f"{base}/tested_pairs"] = metrics.get(f"{base}/tested_pairs", 0.0) + 1
        metrics[f"{base}/min_p_holm"] = min(metrics.get(f"{base}/min_p_holm", 1.0), p)
        metrics.setdefault(f"{base}/significant_pairs", 0.0)
        if p >= alpha or test.diff == 0:
            continue
        metrics[f"{base}/significant_pairs"] += 1
        high, low = (test.arm_a, test.arm_b) if test.diff > 0 else (test.arm_b, test.arm_a)
        found.setdefault(test.metric, []).append(
            f"{names.get(high, high)} > {names.get(low, low)} ({abs(test.diff):+.2f}, p={p:.3g})")
        for arm, other, word in ((high, low, "higher"), (low, high, "lower")):
            arm_notes.setdefault(arm, {}).setdefault(test.metric, []).append(
                f"{word} than {names.get(other, other)} (p={p:.3g})")
    parent_tags = {f"tierlab.significant.{metric}": "; ".join(items) for metric, items in found.items()}
    arm_tags = {arm: {f"tierlab.significant.{m}": "; ".join(items) for m, items in by_metric.items()}
                for arm, by_metric in arm_notes.items()}
    return metrics, parent_tags, arm_tags


def test_rows(comparisons) -> list[dict]:
    """The paired tests as table rows, with the p-value as reports show it ("too few to test" below the minimum n)."""
    return [{**t.model_dump(mode="json"), "p_shown": t.p_text(adjusted=t.p_adjusted is not None)} for t in comparisons]
