"""The planner end to end: runs + workload -> plan, sensitivity, plot, files, and the artifact on the runs used."""

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from toolkit.planner.plan import Plan, SensitivityRow, cost_curve, make_plan, sensitivity
from toolkit.planner.workload import Workload


class PlanOutput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    plan: Plan
    sensitivity: tuple[SensitivityRow, ...]
    markdown: str
    files: tuple[str, ...]
    attached_to: tuple[str, ...] = ()


def plan_from_runs(
    selectors: list[str],
    workload: Workload,
    out_dir: str | Path,
    *,
    attach: bool = True,
    tracking_uri: str | None = None,
    catalog=None,
) -> PlanOutput:
    """Plan ``workload`` from the arm runs ``selectors`` name; write plan.md/plan.json/cost_vs_traffic.png to
    ``out_dir`` and (``attach``) add them under ``planner/`` to every run used, so a reviewer sees the decision
    next to its evidence."""
    from toolkit.planner.inputs import load_arm_runs, measured_from_runs, offers_for
    from toolkit.planner.report import plan_markdown, plot_cost_curve

    measured = measured_from_runs(load_arm_runs(selectors, tracking_uri))
    if not measured:
        raise ValueError(f"runs {selectors} have no answered arms with an accuracy metric: finish an experiment first")
    offers = offers_for(measured, workload, catalog)
    plan = make_plan(workload, offers, measured)
    rows = sensitivity(workload, offers, measured)
    markdown = plan_markdown(plan, rows)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "plan.md").write_text(markdown, encoding="utf-8")
    (out / "plan.json").write_text(json.dumps({"plan": plan.model_dump(mode="json"),
                                               "sensitivity": [r.model_dump(mode="json") for r in rows]}, indent=1))
    png = plot_cost_curve(cost_curve(workload, offers, measured), out / "cost_vs_traffic.png")
    files = (str(out / "plan.md"), str(out / "plan.json"), str(png))
    attached: tuple[str, ...] = ()
    if attach:
        from toolkit import paths, tracking

        folder = f"planner/{paths.safe_name(workload.name)}"
        for run_id in plan.run_ids:
            tracking.log_to_run(run_id, texts={f"{folder}/plan.md": markdown,
                                               f"{folder}/plan.json": (out / "plan.json").read_text()},
                                files=[str(png)], tracking_uri=tracking_uri)
        attached = plan.run_ids
    return PlanOutput(plan=plan, sensitivity=tuple(rows), markdown=markdown, files=files, attached_to=attached)
