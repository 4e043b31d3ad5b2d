"""`tierlab plan --runs … --workload workload.yaml`: the planner on the command line."""

from pathlib import Path
from typing import Annotated

import typer


def plan(
    runs: Annotated[list[str], typer.Option("--runs", help="Experiment name, parent run id or arm run id (repeatable).")],
    workload: Annotated[Path, typer.Option("--workload", help="workload.yaml (see experiments/workload.yaml).")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for plan.md, plan.json and the plot (default: <TIERLAB_HOME>/plans/<workload>)."),
    ] = None,
    attach: Annotated[bool, typer.Option(help="Attach the plan to the MLflow runs it used.")] = True,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow URI (default: $MLFLOW_TRACKING_URI or local).")] = None,
) -> None:
    """Free tier vs paid vs self-hosted for a workload, from measured runs."""
    from toolkit import paths
    from toolkit.planner.run import plan_from_runs
    from toolkit.planner.workload import load_workload

    try:
        loaded = load_workload(workload)
        out = out or paths.subdir("plans") / paths.safe_name(loaded.name)
        output = plan_from_runs(runs, loaded, out, attach=attach, tracking_uri=tracking_uri)
    except (ValueError, FileNotFoundError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(output.markdown)
    attached = f"; attached to {len(output.attached_to)} run(s)" if output.attached_to else ""
    typer.echo(f"wrote {', '.join(output.files)}{attached}")
