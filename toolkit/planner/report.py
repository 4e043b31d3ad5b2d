"""Render a plan for people: a Markdown table, a sensitivity table and a cost-vs-traffic plot (PNG)."""

from pathlib import Path

from toolkit.metrics.stats import proportion_ci
from toolkit.planner.plan import Plan, SensitivityRow


def _money(value: float | None) -> str:
    return "–" if value is None else f"${value:,.2f}"


def _seconds(value: float | None) -> str:
    """A p95 in seconds: ``1.23``; two significant digits below 0.1 s (``0.0042``, not ``0.00``); ``–`` unmeasured."""
    if value is None:
        return "–"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"


def _per_correct(value: float | None) -> str:
    return "–" if value is None else f"${value:.6f}"


def _accuracy(accuracy: float, n: int) -> str:
    """Accuracy with its Wilson interval and n, so a 4/4 arm reads ``1.00 [0.51, 1.00] n=4``, not a sure 1.00."""
    if n <= 0:
        return f"{accuracy:.2f}"
    ci = proportion_ci(round(accuracy * n), n)
    return f"{accuracy:.2f} [{ci.low:.2f}, {ci.high:.2f}] n={n}"


def _capacity(c) -> str:
    """Self-hosted capacity in what is rented: GPUs, or CPU nodes sized in CPU-hours (a CPU profile has no GPU)."""
    if not c.gpus:
        return "–"
    unit = "GPU" if c.accelerator == "gpu" else "CPU node"
    return f"{c.gpus} {unit}{'s' if c.gpus > 1 else ''} ({c.accelerator_hours_per_month:,.0f} {c.accelerator.upper()}-h/month)"


def plan_markdown(plan: Plan, rows: list[SensitivityRow] | None = None) -> str:
    w = plan.workload
    lines = [
        f"# Plan for {w.name}",
        "",
        f"{w.daily_active_users:,} users × {w.requests_per_user:g} requests/day = {w.requests_per_day:,.0f} requests/day, "
        f"peak concurrency {w.peak_concurrency}, latency target {w.latency_target_s or '–'} s, "
        f"sensitive data: {'yes' if w.sensitive_data else 'no'}, users in {w.timezone}.",
        "",
        f"**Recommendation:** {plan.recommended.label if plan.recommended else 'none'} — {plan.reason}",
        *(["", f"**Caveat:** {plan.caveat}"] if plan.caveat else []),
        "",
        "| choice | accuracy | p95 s | $/month | $/correct | self-hosted capacity | free-tier quota | break-even req/day "
        "| excluded because |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in plan.choices:
        lines.append(
            f"| {c.label} | {_accuracy(c.accuracy, c.n_questions)} | {_seconds(c.latency_p95_s)} "
            f"| {_money(c.monthly_usd)} | {_per_correct(c.cost_per_correct)} | {_capacity(c)} "
            f"| {c.quota.summary() if c.quota else '–'} "
            f"| {'–' if c.break_even_requests_per_day is None else f'{c.break_even_requests_per_day:,.0f}'} "
            f"| {'; '.join(c.excluded) or '–'} |"
        )
    retrieval = {c.label: c.retrieval for c in plan.choices if c.retrieval}
    if retrieval:
        lines += ["", "Retrieval behind the RAG choices (an oracle scope is an upper bound on accuracy):",
                  *(f"- {label}: {note}" for label, note in retrieval.items())]
    if rows:
        lines += ["", "## Sensitivity", "", "| scenario | recommended | $/month | accuracy | changed |", "|---|---|---|---|---|"]
        for r in rows:
            acc = "–" if r.accuracy is None else f"{r.accuracy:.2f}"
            lines.append(f"| {r.scenario} | {r.recommended} | {_money(r.monthly_usd)} | {acc} | {'yes' if r.changed else ''} |")
    if plan.run_ids:
        lines += ["", f"Runs used: {', '.join(plan.run_ids)}"]
    return "\n".join(lines) + "\n"


def cost_figure(curves: dict[str, list[float | None]]):
    """Monthly cost per choice against traffic multiplier (log-log); gaps are where a choice is infeasible."""
    from matplotlib.figure import Figure

    xs = curves["traffic_multiplier"]
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    for label, ys in curves.items():
        if label == "traffic_multiplier":
            continue
        # A free tier costs $0: draw it at a floor so it is visible on the log axis while it holds.
        pts = [(x, max(y, 0.01)) for x, y in zip(xs, ys, strict=True) if y is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("traffic × workload")
    ax.set_ylabel("USD / month (free tier drawn at $0.01)")
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def plot_cost_curve(curves: dict[str, list[float | None]], path: str | Path) -> Path:
    """The cost figure saved as PNG (no pyplot state, so it is safe in threads and notebooks)."""
    path = Path(path)
    cost_figure(curves).savefig(path, dpi=100)
    return path
