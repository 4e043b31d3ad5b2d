"""`tierlab review`: draw a run's review sample, mark answers, sync marks with MLflow, print corrected rates.

Exit code 2 (one line naming the problem and the fix, nothing stored) for a run, arm, question or label that does
not exist. Cheap to import: the runner and MLflow load when a command runs.
"""

from typing import Annotated

import typer

cli = typer.Typer(help="Human review of a stored run: sample, marks, prediction-powered rates.", no_args_is_help=True)
RUN = Annotated[str, typer.Argument(help="A run folder name under <TIERLAB_HOME>/runs, or the run's spec YAML.")]


def _open(run: str, reviewer: str = ""):
    from toolkit import paths
    from toolkit.experiments.spec import SpecError
    from toolkit.review import Review

    try:
        return Review.open(run, reviewer=reviewer, source="cli")
    except (SpecError, FileNotFoundError) as error:
        runs = sorted(p.name for p in paths.subdir("runs").iterdir() if p.is_dir())
        _fail(f"{error}\nStored runs: {', '.join(runs) or 'none yet'}")


def _fail(message: str):
    typer.secho(message, fg="red", err=True)
    raise typer.Exit(2)


def _progress(review) -> None:
    for arm in review.arms:
        typer.echo(f"{arm}: {review.progress_text(arm)}")


@cli.command("sample")
def sample(
    run: RUN,
    size: Annotated[int, typer.Option("--size", min=1, help="Answers to label per arm.")] = 30,
    seed: Annotated[int | None, typer.Option("--seed", help="Default: the run's seed.")] = None,
) -> None:
    """Draw (or extend) each arm's random review sample and print the questions to label, in order."""
    review = _open(run)
    drawn = review.draw_sample(size, seed)
    for arm, ids in drawn.items():
        typer.echo(f"{arm} ({review.progress_text(arm)}): {' '.join(ids)}")


@cli.command("mark")
def mark(
    run: RUN,
    arm: Annotated[str, typer.Option("--arm", help="The arm, as `tierlab review progress` lists it.")],
    question: Annotated[str, typer.Option("--question", help="The question id.")],
    accuracy: Annotated[str | None, typer.Option("--accuracy", help="correct or incorrect.")] = None,
    hallucination: Annotated[
        str | None, typer.Option("--hallucination", help="supported, hallucinated or abstained.")
    ] = None,
    reviewer: Annotated[str, typer.Option("--reviewer", help="Your name (stored with the mark).")] = "",
    no_sync: Annotated[bool, typer.Option("--no-sync", help="Store locally only; `sync` pushes it later.")] = False,
) -> None:
    """Store one human mark with the run (and write it to MLflow when the run was tracked)."""
    from toolkit.review import MarkError

    review = _open(run, reviewer)
    try:
        stored = review.mark(arm, question, accuracy=accuracy, hallucination=hallucination, sync=False)
    except MarkError as error:
        _fail(str(error))
    typer.echo(f"marked {arm} / {question}; {review.progress_text(arm)}")
    if not no_sync and review.tracking() is not None:
        try:
            review.push([stored])
        except Exception as error:  # noqa: BLE001 - the mark is stored; MLflow can be updated later
            typer.secho(f"stored with the run, but MLflow was not updated ({error}); run `tierlab review sync "
                        f"{run}` when it is reachable", fg="yellow", err=True)


@cli.command("progress")
def progress(run: RUN) -> None:
    """Per arm: how much of its review sample is labelled."""
    _progress(_open(run))


@cli.command("sync")
def sync(run: RUN) -> None:
    """Write local marks to MLflow as HUMAN assessments and read back the marks added in the MLflow UI."""
    from toolkit.review import MarkError

    review = _open(run)
    try:
        report = review.sync()
    except MarkError as error:
        _fail(str(error))
    typer.echo(report.text())
    _progress(review)


@cli.command("rates")
def rates(run: RUN) -> None:
    """Judge-only and prediction-powered hallucination rates per arm, and their differences (no model calls)."""
    from toolkit.experiments.rates import rates_markdown

    typer.echo("\n".join(rates_markdown(_open(run).rates())))
