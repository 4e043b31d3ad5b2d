"""Interactive versions of the report's two figures (plotly ``FigureWidget``: hover labels, zoom, one legend entry
per arm), built only when asked for: the Plots tab opens on the PNGs of ``toolkit.experiments.plots`` (the same
images MLflow holds), which show at once, while plotly's widget takes seconds to load in the browser.

The data are those of the PNGs (``pareto_points``, ``hallucination_bars``): short arm labels, cost in dollars per
1,000 questions, intervals and n in the hover text.
"""

from __future__ import annotations

from typing import Any

from toolkit.experiments.plots import COST_LABEL, hallucination_bars, pareto_points

LEGEND_BELOW = {"orientation": "h", "y": -0.25, "x": 0, "font": {"size": 10}}


def _n(value: Any) -> str:
    return "?" if value is None else str(int(value))


def pareto_widget(result: Any):
    import plotly.graph_objects as go

    figure = go.Figure()
    points = pareto_points(result)
    for p in points:
        figure.add_scatter(
            x=[p["cost"]], y=[p["accuracy"]], mode="markers", name=p["label"], marker={"size": 11},
            error_y={"type": "data", "symmetric": False, "array": [p["high"] - p["accuracy"]],
                     "arrayminus": [p["accuracy"] - p["low"]]},
            hovertemplate=(f"<b>{p['label']}</b><br>accuracy %{{y:.2f}} [{p['low']:.2f}, {p['high']:.2f}] "
                           f"n={_n(p['n'])}<br>%{{x:$,.3g}} per 1,000 questions<extra></extra>"),
        )
    front = sorted((p for p in points if p["front"]), key=lambda p: p["cost"])
    if len(front) > 1:
        figure.add_scatter(x=[p["cost"] for p in front], y=[p["accuracy"] for p in front], mode="lines",
                           name="Pareto front", line={"dash": "dash", "color": "grey"}, hoverinfo="skip")
    figure.update_layout(title=f"{result.spec.name}: accuracy vs cost", width=640, height=480,
                         xaxis={"title": COST_LABEL, "tickprefix": "$"}, yaxis_title="accuracy",
                         legend=LEGEND_BELOW, margin={"t": 40, "l": 50, "r": 10, "b": 60})
    return _widget(figure)


def _widget(figure):
    """The finished figure as a ``FigureWidget``: built whole, so the browser gets every trace in the widget's first
    state (traces added to a live widget travel as later messages, which a view created afterwards can miss)."""
    import plotly.graph_objects as go

    return go.FigureWidget(figure)


def hallucination_widget(result: Any):
    import plotly.graph_objects as go

    figure = go.Figure()
    bars = hallucination_bars(result)
    for provider in dict.fromkeys(b["provider"] for b in bars):
        mine = [b for b in bars if b["provider"] == provider]
        figure.add_bar(
            x=[b["method"] for b in mine], y=[b["rate"] for b in mine], name=provider,
            error_y={"type": "data", "symmetric": False, "array": [b["high"] - b["rate"] for b in mine],
                     "arrayminus": [b["rate"] - b["low"] for b in mine]},
            customdata=[[b["low"], b["high"], _n(b["n"])] for b in mine],
            hovertemplate=(f"<b>%{{x}} · {provider}</b><br>hallucination %{{y:.2f}} "
                           "[%{customdata[0]:.2f}, %{customdata[1]:.2f}] n=%{customdata[2]}<extra></extra>"),
        )
    figure.update_layout(title=f"{result.spec.name}: hallucination by method and provider", barmode="group",
                         width=640, height=440, yaxis={"range": [0, 1], "title": "hallucination rate (lower is better)"},
                         legend=LEGEND_BELOW, margin={"t": 40, "l": 50, "r": 10, "b": 60})
    return _widget(figure)


def figure_png(figure: Any) -> bytes:
    """A matplotlib figure as PNG bytes, closed afterwards."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()


def _safely(make, name: str):
    """``make()``, or a line saying why it failed: one broken plot must not hide the rest of the view."""
    import ipywidgets as w

    try:
        return make()
    except Exception as exc:  # noqa: BLE001 - shown in place of the plot
        from toolkit.ui.html import esc

        return w.HTML(f"<small>{esc(name)}: {esc(exc)}</small>")


class PlotsTab:
    """The Plots tab: the two PNGs when first opened (under a second), and a button for the interactive versions."""

    def __init__(self, result: Any):
        import ipywidgets as w

        self.result = result
        self.images = w.VBox([w.HTML("<small>opening…</small>")])
        self.button = w.Button(description="Interactive (hover, zoom)", icon="search-plus",
                               layout=w.Layout(width="auto"),
                               tooltip="plotly versions of the same figures: hover for an arm's interval and n; "
                                       "slower to load in the browser")
        self.button.on_click(lambda _: self.interactive())
        self.widget = w.VBox([self.images, self.button])
        self._shown = False

    def show(self) -> list:
        """Draw the PNGs on first opening (figures drawn while their tab was hidden sometimes rendered empty)."""
        import ipywidgets as w

        from toolkit.experiments.plots import hallucination_figure, pareto_figure

        if not self._shown:
            self._shown = True
            self.images.children = [
                _safely(lambda f=f: w.Image(value=figure_png(f(self.result)), format="png"), f.__name__)
                for f in (pareto_figure, hallucination_figure)
            ]
        return list(self.images.children)

    def interactive(self) -> list:
        """Replace the PNGs by the plotly widgets (hover labels with intervals and n, zoom, legend toggles)."""
        self._shown = True
        self.button.disabled = True
        self.images.children = [_safely(lambda f=f: f(self.result), f.__name__)
                                for f in (pareto_widget, hallucination_widget)]
        return list(self.images.children)
