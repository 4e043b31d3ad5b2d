"""Human-readable views of an ``ExperimentResult``: the summary table and a markdown summary (plots: ``plots.py``).

Shared by ``tierlab run``/``tierlab report``, the MLflow artifacts (toolkit.tracking) and notebooks, so every surface shows
the same numbers.
"""

from toolkit.experiments.rates import corrected_rates, rates_markdown
from toolkit.experiments.results import ExperimentResult
from toolkit.judges.card import judges_text
from toolkit.metrics import headline_metrics, retrieval_metrics
from toolkit.metrics.stats import MIN_PAIRS, STATS_NOTE, Interval

HEADLINE = headline_metrics()


def _ci(interval: Interval | None) -> str:
    if interval is None:
        return "–"
    return f"{interval.value:.2f} [{interval.low:.2f}, {interval.high:.2f}] n={interval.n}"


def _money(value: float | None) -> str:
    if value is None:
        return "–"
    return f"${value:.2e}" if 0 < value < 0.01 else f"${value:.4f}"


def summary_markdown(result: ExperimentResult) -> str:
    """A short markdown report: per-arm headline metrics with CIs, cost and latency, significant differences."""
    spec = result.spec
    pct = round(spec.confidence * 100)
    lines = [
        f"# {spec.name}",
        "",
        *([spec.description, ""] if spec.description else []),
        f"Dataset `{spec.dataset}` / `{spec.split}`, {result.arms[0].planned if result.arms else 0} questions "
        f"(seed {spec.seed}), run `{result.run_key}`. Intervals: {pct}%, n beside each.",
        "",
        f"Judge: {judges_text(result.records) or ', '.join(j.name for j in spec.judges)}.",
        "",
        "| provider | method | answered | "
        + " | ".join(HEADLINE)
        + " | p50 / p95 s | $ per correct (shadow / self-hosted) | 429s | stopped |",
        "|---" * (len(HEADLINE) + 7) + "|",
    ]
    for arm in result.arms:
        cost = arm.cost
        latency = (
            "–"
            if cost.get("latency_p50_s") is None
            else f"{cost['latency_p50_s']:.2f} / {cost['latency_p95_s']:.2f}"
        )
        per_correct = f"{_money(cost.get('shadow_cost_per_correct_usd'))} / {_money(cost.get('selfhosted_cost_per_correct_usd'))}"
        lines.append(
            f"| {arm.provider} | {arm.method} | {arm.answered}/{arm.planned} | "
            + " | ".join(_ci(arm.metrics.get(m)) for m in HEADLINE)
            + f" | {latency} | {per_correct} | {cost.get('rate_limited', 0):.0f} | {arm.stopped or ''} |"
        )
    if result.skipped:
        lines += ["", "Skipped: " + "; ".join(f"{k} ({v})" for k, v in result.skipped.items())]
    lines += _headline_lines(result) + retrieval_lines(result)
    lines += ["", *paired_test_lines(result), "", f"_{STATS_NOTE}._", "", *rates_markdown(corrected_rates(result))]
    if result.errors:
        lines += ["", f"{len(result.errors)} question(s) failed and will be retried on the next run."]
    lines += _accounting_notes(result)
    return "\n".join(lines) + "\n"


def paired_test_lines(result: ExperimentResult, names: dict[str, str] | None = None) -> list[str]:
    """The headline paired tests (accuracy, hallucination) in words: the significant ones after Holm, or "none
    significant", and how many had too few paired questions to test. ``names`` maps arm ids to shown names."""
    names = names or {}
    alpha = 1 - result.spec.confidence
    headline = [t for t in result.comparisons if t.metric in ("accuracy", "hallucination")]
    significant = [t for t in headline if t.p_adjusted is not None and t.p_adjusted < alpha]
    lines = [f"Paired tests (accuracy, hallucination; Holm-adjusted over all {len(result.comparisons)} "
             f"comparisons, p < {alpha:.2f}):"]
    lines += [
        f"- {t.metric}: {names.get(t.arm_a, t.arm_a)} − {names.get(t.arm_b, t.arm_b)} = {t.diff_text()}, "
        f"{t.test} p={t.p_text()}, Holm p={t.p_text(True)}"
        for t in significant
    ] or ["- none significant on this sample"]
    too_few = [t for t in headline if t.p_value is None and t.n < MIN_PAIRS]
    if too_few:
        lines.append(f"- {len(too_few)} of {len(headline)} too few to test (fewer than {MIN_PAIRS} paired questions)")
    return lines


def _headline_lines(result: ExperimentResult) -> list[str]:
    from toolkit.experiments.headline import headline

    found = headline(result)
    if found is None:
        return []
    return ["", "**Headline comparison** (paired, same questions):", *(f"- {line}" for line in found.sentences())]


RETRIEVAL_HEADERS = ("provider", "method", "kind", "recall@k", "MRR", "gold-chunk share", "unanswerable: looked relevant")


def retrieval_rows(result: ExperimentResult) -> list[list[str]]:
    """Per retrieving arm: the retrieval-quality metrics overall, then per question kind (value [CI] n=)."""
    rows = []
    for arm in result.arms:
        if not arm.retrieval_by_kind:
            continue
        rows.append([arm.provider, arm.method, "all", *(_ci(arm.metrics.get(m)) for m in retrieval_metrics())])
        for kind, values in arm.retrieval_by_kind.items():
            rows.append(["", "", kind, *(_ci(values.get(m)) for m in retrieval_metrics())])
    return rows


def retrieval_lines(result: ExperimentResult) -> list[str]:
    """What the retriever searched, and how good its chunks were per RAG arm."""
    if result.retrieval is None:
        return []
    from toolkit.retrieval.settings import RELEVANCE_THRESHOLD

    lines = ["", f"**Retrieval:** {result.retrieval.label}."]
    rows = retrieval_rows(result)
    if rows:
        lines += [
            f"Gold documents among the k retrieved chunks (recall@k), 1/rank of the first gold chunk (MRR), share of the "
            f"shown chunks from gold documents; for unanswerable questions, whether the best chunk scored >= "
            f"{RELEVANCE_THRESHOLD} (the relevance threshold calibrated on answerable questions).",
            "",
            "| " + " | ".join(RETRIEVAL_HEADERS) + " |",
            "|---" * len(RETRIEVAL_HEADERS) + "|",
            *("| " + " | ".join(row) + " |" for row in rows),
        ]
    return lines


def _accounting_notes(result: ExperimentResult) -> list[str]:
    """Per arm: answers replayed from cache, calls shared with another arm, spend of failed questions (see
    ``toolkit.experiments.accounting`` for the definitions)."""
    notes = []
    for arm in result.arms:
        cost, parts = arm.cost, []
        if cost.get("answered_from_cache"):
            parts.append(
                f"answered from cache: {cost['answered_from_cache']:.0f}"
                + (" (latency: as originally measured)" if cost.get("latency_from_cache") else "")
            )
        if cost.get("shared_calls"):
            parts.append(f"shared calls charged here: {cost['shared_calls']:.0f}")
        if cost.get("failed_calls"):
            parts.append(
                f"calls spent by failed questions: {cost['failed_calls']:.0f} ({cost['failed_questions']:.0f} questions)"
            )
        if cost.get("reservation_hours") is not None:
            parts.append(
                f"self-hosted reservation: {cost['reservation_hours']:.3f} accelerator-h = "
                f"{_money(cost['reservation_usd'])} (busy time only: {_money(cost.get('selfhosted_cost_usd'))})"
            )
        if parts:
            notes.append(f"- {arm.arm}: " + "; ".join(parts))
    return ["", "Accounting:", *notes] if notes else []


def print_summary(result: ExperimentResult) -> None:
    print(summary_markdown(result))
    for error in result.errors[:5]:  # why they failed (they are retried on the next run)
        print(f"failed: {error}")
    if result.mlflow_run_id:
        print(f"MLflow parent run: {result.mlflow_run_id}")
    print(f"Answers stored in: {result.run_dir}  (network calls this run: {result.network_calls})")
