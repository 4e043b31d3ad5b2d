"""`tierlab strategies run FILE`: free-tier strategy arms vs the plain baseline, logged to MLflow."""

from pathlib import Path
from typing import Annotated

import typer

cli = typer.Typer(help="Free-tier strategies (batching, caching, trimming, cascade, review) as experiment arms.",
                  no_args_is_help=True)


@cli.command("run")
def run(
    file: Annotated[Path, typer.Argument(help="Strategies YAML, e.g. experiments/strategies.yaml.")],
    base_url: Annotated[str | None, typer.Option(help="Point the local provider (and a local strong one) here.")] = None,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI (default: local SQLite).")] = None,
    no_track: Annotated[bool, typer.Option("--no-track", help="Do not log to MLflow.")] = False,
    sync_review: Annotated[bool, typer.Option("--sync-review", help="Push human review marks to MLflow.")] = False,
) -> None:
    """Run (or replay from the store) every arm and print the comparison with the baseline."""
    from toolkit import strategy_runs as ex

    try:
        exp = ex.with_overrides(ex.load_strategy_experiment(file), base_url=base_url)
    except (ValueError, FileNotFoundError) as error:
        typer.secho(str(error), fg="red", err=True)
        raise typer.Exit(2) from None
    result = ex.run_strategies(exp, track=not no_track, tracking_uri=tracking_uri, progress=True)
    typer.echo(result.table().to_string(index=False))
    for name, queue in result.review_queues.items():
        typer.echo(f"review queue for {name}: {queue} (toolkit.ui.review.ReviewPanel)")
    if sync_review and not no_track:
        for name, summary in ex.sync_review(result, tracking_uri=tracking_uri).items():
            typer.echo(f"{name}: {summary}")
