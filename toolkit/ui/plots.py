"""Interactive versions of the report's two figures (plotly ``FigureWidget``): hover labels instead of overlapping
annotations, zoom, and one legend entry per arm (click to hide, double-click to isolate).

The data are those of ``toolkit.experiments.report.pareto_figure`` / ``hallucination_figure`` (which still go to
MLflow as PNG images): ``pareto_points`` and ``hallucination_bars`` are the pure parts tests check.
"""

from __future__ import annotations

from typing import Any

from toolkit.experiments.report import _cost_per_question


def pareto_points(result: Any) -> list[dict[str, Any]]:
    """Arms with an accuracy: cost per question, accuracy and its interval, n, and whether on the Pareto front."""
    points = []
    for arm in result.arms:
        interval = arm.metrics.get("accuracy")
        if interval is None:
            continue
        points.append({"arm": arm.arm, "cost": _cost_per_question(arm), "accuracy": interval.value,
                       "low": interval.low, "high": interval.high, "n": interval.n})
    best = -1.0
    for point in sorted(points, key=lambda p: (p["cost"], -p["accuracy"])):
        point["front"] = point["accuracy"] > best
        best = max(best, point["accuracy"])
    return points


def hallucination_bars(result: Any) -> list[dict[str, Any]]:
    """One bar per arm with a hallucination rate: provider, method, rate with interval and n."""
    bars = []
    for arm in result.arms:
        interval = arm.metrics.get("hallucination_rate")
        if interval is not None:
            bars.append({"arm": arm.arm, "provider": arm.provider, "method": arm.method, "rate": interval.value,
                         "low": interval.low, "high": interval.high, "n": interval.n})
    return bars


def _n(value: Any) -> str:
    return "?" if value is None else str(int(value))


def pareto_widget(result: Any):
    import plotly.graph_objects as go

    figure = go.Figure()
    points = pareto_points(result)
    for p in points:
        figure.add_scatter(
            x=[p["cost"]], y=[p["accuracy"]], mode="markers", name=p["arm"], marker={"size": 11},
            error_y={"type": "data", "symmetric": False, "array": [p["high"] - p["accuracy"]],
                     "arrayminus": [p["accuracy"] - p["low"]]},
            hovertemplate=(f"<b>{p['arm']}</b><br>accuracy %{{y:.2f}} [{p['low']:.2f}, {p['high']:.2f}] "
                           f"n={_n(p['n'])}<br>$ per question %{{x:.6f}}<extra></extra>"),
        )
    front = sorted((p for p in points if p["front"]), key=lambda p: p["cost"])
    if front:
        figure.add_scatter(x=[p["cost"] for p in front], y=[p["accuracy"] for p in front], mode="lines",
                           name="Pareto front", line={"dash": "dash", "color": "grey"}, hoverinfo="skip")
    figure.update_layout(title=f"{result.spec.name}: accuracy vs cost", width=620, height=420,
                         xaxis_title="paid-equivalent $ per question (shadow + self-hosted)", yaxis_title="accuracy",
                         legend={"font": {"size": 10}}, margin={"t": 40, "l": 50, "r": 10, "b": 50})
    return _widget(figure)


def _widget(figure):
    """The finished figure as a ``FigureWidget``: built whole, so the browser gets every trace in the widget's first
    state (traces added to a live widget travel as later messages, which a view created afterwards can miss)."""
    import plotly.graph_objects as go

    return go.FigureWidget(figure)


def hallucination_widget(result: Any):
    import plotly.graph_objects as go

    figure = go.Figure()
    for provider in dict.fromkeys(b["provider"] for b in hallucination_bars(result)):
        bars = [b for b in hallucination_bars(result) if b["provider"] == provider]
        figure.add_bar(
            x=[b["method"] for b in bars], y=[b["rate"] for b in bars], name=provider,
            error_y={"type": "data", "symmetric": False, "array": [b["high"] - b["rate"] for b in bars],
                     "arrayminus": [b["rate"] - b["low"] for b in bars]},
            customdata=[[b["low"], b["high"], _n(b["n"])] for b in bars],
            hovertemplate=(f"<b>{provider}</b> | %{{x}}<br>hallucination %{{y:.2f}} "
                           "[%{customdata[0]:.2f}, %{customdata[1]:.2f}] n=%{customdata[2]}<extra></extra>"),
        )
    figure.update_layout(title=f"{result.spec.name}: hallucination by method and provider", barmode="group",
                         width=620, height=420, yaxis={"range": [0, 1], "title": "hallucination rate"},
                         legend={"font": {"size": 10}}, margin={"t": 40, "l": 50, "r": 10, "b": 50})
    return _widget(figure)
