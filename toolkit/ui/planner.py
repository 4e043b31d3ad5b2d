"""Planner panel: change the workload (users, concurrency, latency target, sensitive data, traffic) and see the
recommendation, the priced choices and the cost-vs-traffic plot update. (Owned by the planner area.)

The measured arms and offers are computed once (``toolkit.planner.inputs``); the panel only re-runs the pure
planner functions, so it is instant and testable by setting values and calling ``.click()``.
"""

from __future__ import annotations

from toolkit.planner.plan import Measured, Offer, Plan, cost_curve, make_plan, sensitivity
from toolkit.planner.report import plan_markdown
from toolkit.planner.workload import Workload


def _markdown_to_html(text: str) -> str:
    """Just enough Markdown (headings, bold, pipe tables) for the plan report; cells are escaped."""
    from toolkit.ui.html import esc

    out, table = [], []

    def flush():
        if table:
            rows = [r for r in table if not set(r.replace("|", "").strip()) <= {"-"}]
            cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows]
            head = "".join(f"<th style='text-align:left;padding:2px 6px'>{esc(c)}</th>" for c in cells[0])
            body = "".join("<tr>" + "".join(f"<td style='padding:2px 6px'>{esc(c)}</td>" for c in r) + "</tr>"
                           for r in cells[1:])
            out.append(f"<table><tr>{head}</tr>{body}</table>")
            table.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("#"):
            out.append(f"<h4>{esc(line.lstrip('#').strip())}</h4>")
        elif line.strip():
            parts = esc(line).split("**")
            out.append("<p>" + "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts)) + "</p>")
    flush()
    return "\n".join(out)


class PlannerPanel:
    def __init__(self, workload: Workload, offers: list[Offer], measured: list[Measured]):
        import ipywidgets as w

        self.base, self.offers, self.measured = workload, offers, measured
        self.users = w.IntText(value=workload.daily_active_users, description="Daily users")
        self.per_user = w.FloatText(value=workload.requests_per_user, description="Requests/user")
        self.concurrency = w.IntText(value=workload.peak_concurrency, description="Peak conc.")
        self.latency = w.FloatText(value=workload.latency_target_s or 0.0, description="p95 target s")
        self.sensitive = w.Checkbox(value=workload.sensitive_data, description="Sensitive data (no third-party APIs)")
        self.update = w.Button(description="Plan", button_style="primary")
        self.report = w.HTML()
        self.plot = w.Image(format="png")  # a PNG, not display(fig): under Agg a Figure prints as "<Figure …>"
        self.update.on_click(lambda _: self.refresh())
        self.widget = w.VBox([w.HBox([self.users, self.per_user]), w.HBox([self.concurrency, self.latency]),
                              self.sensitive, self.update, self.report, self.plot])
        self.plan: Plan | None = None
        self.refresh()

    def workload(self) -> Workload:
        return self.base.model_copy(update={
            "daily_active_users": max(1, self.users.value), "requests_per_user": max(self.per_user.value, 1e-6),
            "peak_concurrency": max(1, self.concurrency.value), "latency_target_s": self.latency.value or None,
            "sensitive_data": self.sensitive.value,
        })

    def refresh(self) -> None:
        workload = self.workload()
        try:
            self.plan = make_plan(workload, self.offers, self.measured)
        except ValueError as error:
            self.report.value = f"<b>Cannot plan:</b> {error}"
            return
        self.report.value = _markdown_to_html(plan_markdown(self.plan, sensitivity(workload, self.offers, self.measured)))
        from toolkit.planner.report import cost_figure
        from toolkit.ui.plots import figure_png

        self.plot.value = figure_png(cost_figure(cost_curve(workload, self.offers, self.measured)))

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
