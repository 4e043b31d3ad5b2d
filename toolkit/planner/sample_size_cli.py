"""`tierlab power`: how many paired questions a comparison needs, and how many days of each free tier, before a run.

Cheap to import (typer only); the statistics, the catalog and the planner load when the command runs.
"""

from pathlib import Path
from typing import Annotated

import typer


def load_run_records(run: str):
    """(spec, answers) of a stored run, given its spec YAML or its folder name under <TIERLAB_HOME>/runs."""
    from toolkit import paths
    from toolkit.experiments.spec import load_spec
    from toolkit.planner.sample_size import stored_records

    root = paths.subdir("runs")
    if run.endswith((".yaml", ".yml")):
        spec = load_spec(Path(run))
    elif (root / run / "spec.yaml").is_file():
        spec = load_spec(root / run / "spec.yaml")
    else:
        stored = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise FileNotFoundError(f"no stored run {run!r} under {root}; stored runs: {', '.join(stored) or 'none yet'}")
    records = stored_records(spec, root)
    if not records:
        raise FileNotFoundError(f"run {run!r} has no stored answers yet ({root / spec.run_key()}): run it first, or "
                                "leave out --from-run to use estimates")
    return spec, records


def with_arms(spec, providers: list[str], methods: list[str]):
    """``spec`` (or a bare one) with its providers and/or methods replaced; unknown names fail with a did-you-mean."""
    from toolkit.experiments.spec import ExperimentSpec
    from toolkit.methods import METHODS
    from toolkit.providers import load_catalog

    if spec is None and not providers:
        raise ValueError("pass a spec YAML, or at least one --provider (e.g. --provider groq/llama-3.1-8b-instant)")
    catalog = load_catalog()
    for provider in providers:
        catalog.entry(provider)
    for method in methods:
        METHODS.get(method)
    data = spec.model_dump() if spec is not None else {"name": "power", "sample_size": None, "methods": ["closed_book"]}
    return ExperimentSpec.model_validate(data | ({"providers": providers} if providers else {})
                                         | ({"methods": methods} if methods else {}))


def power(
    spec: Annotated[Path | None, typer.Argument(help="Experiment spec YAML: its arms, metrics and sample size.")] = None,
    effect: Annotated[float | None, typer.Option(
        "--effect", help="Difference to detect, as a fraction (0.1 = 10 points of accuracy).")] = None,
    questions: Annotated[int | None, typer.Option(
        "--questions", help="Paired questions you can afford (default: the spec's sample_size).")] = None,
    metric: Annotated[str, typer.Option(help="Metric compared (binary: McNemar; continuous: permutation).")] = "accuracy",
    provider: Annotated[list[str], typer.Option(
        "--provider", help="Catalog id (repeatable); replaces the spec's providers.")] = [],  # noqa: B006 - typer
    method: Annotated[list[str], typer.Option(
        "--method", help="Method name (repeatable); replaces the spec's methods.")] = [],  # noqa: B006 - typer
    discordant: Annotated[float | None, typer.Option(
        help="Binary metrics: share of questions exactly one of two arms gets right (default 0.3, or measured).")] = None,
    sd: Annotated[float | None, typer.Option(
        help="Continuous metrics: SD of per-question differences (default 0.3, or measured).")] = None,
    alpha: Annotated[float, typer.Option(help="Significance level (two-sided).")] = 0.05,
    target: Annotated[float, typer.Option("--power", help="Power to reach.")] = 0.8,
    from_run: Annotated[str | None, typer.Option(
        "--from-run", help="A stored run (spec YAML or run folder name): measure calls, tokens and the "
        "discordant rate / SD on its answers.")] = None,
) -> None:
    """With N paired questions, which difference can you detect? To detect X, how many questions and free-tier days?"""
    from toolkit.experiments.spec import load_spec
    from toolkit.planner.sample_size import plan_power, power_markdown

    try:
        records = []
        loaded = load_spec(spec) if spec is not None else None
        if from_run is not None:
            run_spec, records = load_run_records(from_run)
            loaded = loaded or run_spec
        if loaded is None or provider or method:
            loaded = with_arms(loaded, provider, method)
        plan = plan_power(loaded, effect=effect, questions=questions, metric=metric, discordant=discordant, sd=sd,
                          alpha=alpha, target=target, records=records)
    except (ValueError, KeyError, FileNotFoundError) as error:  # SpecError and UnknownNameError included
        typer.secho(f"error: {error}", fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(power_markdown(plan))
