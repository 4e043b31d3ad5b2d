"""The two figures of an ``ExperimentResult``: accuracy against cost, and hallucination by method and provider.

The same PNGs go to MLflow (``plots/…``), the results panel and the notebooks, so they are drawn to be read at a
glance: arms by their short labels (``rag · groq~emu``) in a legend below the axes rather than annotations that
collide, one colour and marker per arm, arms that land on the same point said so ("×3"), and cost in dollars per
1,000 questions (a per-question price of a small model reads as $0.00).
"""

from collections import defaultdict

from toolkit.experiments.results import ExperimentResult, total_cost_usd
from toolkit.experiments.spec import short_provider_names

PER = 1000
COST_LABEL = "$ per 1,000 questions (charged or paid-tier price + self-hosted time)"
MARKERS = "osD^vP*Xph<>"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def cost_per_1k(arm) -> float:
    """What an arm's answers cost per 1,000 questions, the way MLflow's ``cost/total_usd_per_1k_questions`` does."""
    return total_cost_usd(arm.cost) * PER / arm.answered if arm.answered else 0.0


def pareto_points(result: ExperimentResult) -> list[dict]:
    """Arms with an accuracy: label, cost per 1,000 questions, accuracy with its interval, n, whether on the Pareto
    front (no other arm both cheaper and at least as accurate) and how many arms share its point."""
    labels = result.arm_labels()
    points = [{"arm": a.arm, "label": labels.get(a.arm, a.arm), "cost": cost_per_1k(a), "accuracy": i.value,
               "low": i.low, "high": i.high, "n": i.n}
              for a in result.arms if (i := a.metrics.get("accuracy")) is not None]
    best = -1.0
    for point in sorted(points, key=lambda p: (p["cost"], -p["accuracy"])):
        point["front"] = point["accuracy"] > best
        best = max(best, point["accuracy"])
    shared = defaultdict(list)
    for point in points:
        shared[(round(point["cost"], 6), round(point["accuracy"], 6))].append(point)
    for group in shared.values():
        for point in group:
            point["shared"] = len(group)
    return points


def _money(value: float, _position=None) -> str:
    if value == 0:
        return "$0"
    return f"${value:,.2f}" if abs(value) >= 0.1 else f"${value:.2g}"


def pareto_figure(result: ExperimentResult):
    """Accuracy (with its interval) against cost per 1,000 questions, the Pareto-optimal arms joined."""
    plt = _pyplot()
    from matplotlib.ticker import FuncFormatter

    points = pareto_points(result)
    fig, ax = plt.subplots(figsize=(7.5, 4.2 + 0.22 * ((len(points) + 1) // 2)))
    colours = plt.get_cmap("tab10")
    for i, p in enumerate(points):
        ax.errorbar(p["cost"], p["accuracy"], yerr=[[p["accuracy"] - p["low"]], [p["high"] - p["accuracy"]]],
                    fmt=MARKERS[i % len(MARKERS)], color=colours(i % 10), capsize=3, markersize=8,
                    markerfacecolor="none", markeredgewidth=1.6, label=f"{p['label']} (n={p['n']})")
    noted = set()
    for p in points:
        key = (round(p["cost"], 6), round(p["accuracy"], 6))
        if p["shared"] > 1 and key not in noted:
            noted.add(key)
            ax.annotate(f"×{p['shared']}", (p["cost"], p["accuracy"]), xytext=(7, -3), textcoords="offset points",
                        fontsize=8, color="dimgrey")
    front = sorted((p for p in points if p["front"]), key=lambda p: p["cost"])
    if len(front) > 1:
        ax.plot([p["cost"] for p in front], [p["accuracy"] for p in front], "--", color="grey", lw=1,
                label="Pareto front", zorder=0)
    ax.xaxis.set_major_formatter(FuncFormatter(_money))
    ax.set_xlabel(COST_LABEL, fontsize=9)
    ax.set_ylabel(f"accuracy ({round(result.spec.confidence * 100)}% interval)", fontsize=9)
    ax.set_ylim(-0.04, 1.04)
    ax.margins(x=0.08)
    ax.grid(alpha=0.3)
    ax.set_title(f"{result.spec.name}: accuracy vs cost", fontsize=11)
    if points:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def hallucination_bars(result: ExperimentResult) -> list[dict]:
    """One bar per arm with a hallucination rate: its provider's short name, method, rate with interval and n."""
    short = short_provider_names(result.spec.providers)
    return [{"arm": a.arm, "provider": short.get(a.provider, a.provider), "method": a.method, "rate": i.value,
             "low": i.low, "high": i.high, "n": i.n}
            for a in result.arms if (i := a.metrics.get("hallucination_rate")) is not None]


def hallucination_figure(result: ExperimentResult):
    """Hallucination rate by method, one bar per provider, with interval error bars."""
    plt = _pyplot()
    bars = hallucination_bars(result)
    methods = list(dict.fromkeys(b["method"] for b in bars))
    providers = list(dict.fromkeys(b["provider"] for b in bars))
    width = 0.8 / max(len(providers), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(methods) + 2), 4.4))
    for j, provider in enumerate(providers):
        mine = [b for b in bars if b["provider"] == provider]
        xs = [methods.index(b["method"]) + (j - (len(providers) - 1) / 2) * width for b in mine]
        ax.bar(xs, [b["rate"] for b in mine], width * 0.95, label=provider,
               yerr=[[b["rate"] - b["low"] for b in mine], [b["high"] - b["rate"] for b in mine]], capsize=3)
    ax.set_xticks(range(len(methods)), methods, fontsize=9)
    ax.set_ylabel(f"hallucination rate ({round(result.spec.confidence * 100)}% interval; lower is better)", fontsize=9)
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    if providers:
        ax.legend(title="provider", fontsize=8, title_fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1),
                  ncol=min(len(providers), 4), frameon=False)
    ax.set_title(f"{result.spec.name}: hallucination by method and provider", fontsize=11)
    fig.tight_layout()
    return fig
