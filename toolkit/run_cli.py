"""`tierlab run <spec.yaml>` and `tierlab report <run>`: the command-line face of the runner.

Cheap to import (typer only); the runner and MLflow load when a command runs.
"""

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

cli = typer.Typer(help="Run experiments and report on them.", no_args_is_help=True)


@cli.command("run")
def run(
    spec: Annotated[Path, typer.Argument(help="Experiment spec YAML, e.g. experiments/quickstart.yaml.")],
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", help="Each question as a Ray task: 'local' (private Ray here) or a cluster, e.g. ray://head:10001.")
    ] = None,
    tracking_uri: Annotated[
        str | None, typer.Option("--tracking-uri", help="MLflow tracking URI (default: local SQLite).")
    ] = None,
    no_track: Annotated[bool, typer.Option("--no-track", help="Do not log to MLflow.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> None:
    """Run (or continue) an experiment; answers already stored are never asked again.

    Exit codes: 0 done; 1 an arm failed on every question it tried; 2 the spec, the dataset, the run folder, a
    model endpoint or the MLflow server cannot be used (one line says what and how to fix it; nothing was run or
    logged); 130 interrupted (Ctrl-C or
    SIGTERM: no further call is made, the calls in flight finish, what was answered is stored, logged as KILLED
    and summarised; a rerun continues).
    """
    import threading
    import warnings

    from toolkit.datasets import DatasetError
    from toolkit.experiments.preconditions import Unreachable
    from toolkit.experiments.report import print_summary
    from toolkit.experiments.runner import run_experiment
    from toolkit.experiments.spec import SpecError, load_spec
    from toolkit.experiments.store import StoreError
    from toolkit.registry import UnknownNameError
    from toolkit.security import RayAuthError
    from toolkit.tracking import mlflow_logger
    from toolkit.tracking.once import TrackingUnreachable

    warnings.formatwarning = lambda message, category, *args, **kwargs: f"warning: {message}\n"
    cancel = threading.Event()
    try:
        loaded = load_spec(spec)
        log = None if no_track else mlflow_logger(tracking_uri)
        with _interrupts_cancel(cancel):
            result = run_experiment(loaded, ray_address=ray_address, progress=not quiet, log=log, cancel=cancel)
    except (SpecError, DatasetError, StoreError, UnknownNameError, RayAuthError, Unreachable,
            TrackingUnreachable) as error:
        typer.secho(str(error), fg="red", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:  # a second Ctrl-C: stop now; stored answers are kept, the rerun finishes the rest
        typer.secho("interrupted again: stopped without a summary; rerun to continue.", fg="red", err=True)
        raise typer.Exit(130) from None
    print_summary(result)
    for error in result.errors:
        typer.secho(f"failed: {error}", fg="yellow", err=True)
    if cancel.is_set():
        typer.secho("interrupted: the answers above are stored; rerun the same spec to continue.", fg="yellow",
                    err=True)
        raise typer.Exit(130)
    if result.failed_arms:
        typer.secho(f"every question failed in: {', '.join(result.failed_arms)}", fg="red", err=True)
        raise typer.Exit(1)


@contextlib.contextmanager
def _interrupts_cancel(cancel) -> Iterator[None]:
    """Within the block, the first Ctrl-C or SIGTERM sets ``cancel`` (the run stops issuing calls and winds down
    cleanly); a second Ctrl-C raises ``KeyboardInterrupt`` as usual."""
    import signal
    import sys

    def stop(signum, frame) -> None:
        if cancel.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        cancel.set()
        print(f"\n{signal.Signals(signum).name}: stopping: no new calls; the calls in flight finish and are stored "
              "(Ctrl-C again to quit at once).", file=sys.stderr, flush=True)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@cli.command("report")
def report(
    run: Annotated[
        str, typer.Argument(help="A spec YAML path, or a run folder name under <TIERLAB_HOME>/runs.")
    ],
) -> None:
    """Print the summary of a stored run from its answers (no model calls)."""
    from toolkit import paths
    from toolkit.experiments.report import print_summary
    from toolkit.experiments.runner import load_result
    from toolkit.experiments.spec import SpecError

    try:
        result = load_result(run)
    except (SpecError, FileNotFoundError) as error:
        runs = sorted(p.name for p in paths.subdir("runs").iterdir() if p.is_dir())
        typer.secho(f"{error}\nStored runs: {', '.join(runs) or 'none yet'}", fg="red", err=True)
        raise typer.Exit(2) from None
    print_summary(result)
