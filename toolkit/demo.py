"""`tierlab demo`: the main job on the embedded defaults, end to end, from a fresh checkout.

Prepare the packaged local model, serve it with vLLM on Ray Serve, ingest the dev corpus into embedded chromadb, run the
quickstart experiment (local model + the emulated free tier) and log it to the local MLflow store. Every step is
idempotent, so a second `make demo` reuses the model, the server, the index and the answers already stored.
"""

import contextlib
import os
import time
from collections.abc import Iterator

import typer

from toolkit import paths


def demo(
    spec: str = typer.Option("quickstart", help="Experiment spec: an example name (quickstart, …) or a YAML path."),
    port: int = typer.Option(8000, help="Port of the local Ray Serve endpoint (127.0.0.1)."),
) -> None:
    """Run the whole default experiment on this machine and say what to open next.

    With ``$TIERLAB_LOCAL_URL`` set to a model server that answers (a running `tierlab serve up`, or a shared one),
    the demo uses it instead of preparing and starting its own.
    """
    from toolkit import serve
    from toolkit.examples import resolve_spec

    loaded = resolve_spec(spec)  # a bad name fails here, before minutes of model preparation
    started = time.monotonic()
    timings: dict[str, float] = {}
    given = os.environ.get("TIERLAB_LOCAL_URL")
    if given and serve.generates(given.rstrip("/"), "smollm2-135m-instruct"):
        typer.secho(f"1-2/4 using the model server at {given} ($TIERLAB_LOCAL_URL)", bold=True)
    else:
        _serve(port, timings)
    typer.secho("3/4 indexing the corpus the RAG arms search (embedded chromadb)", bold=True)
    with _timed(timings, "index"):
        _index(loaded)
    typer.secho("4/4 running the experiment", bold=True)
    from toolkit.experiments.report import print_summary
    from toolkit.experiments.runner import run_experiment
    from toolkit.tracking import mlflow_logger

    with _timed(timings, "run"):
        result = run_experiment(loaded, log=mlflow_logger())
    print_summary(result)
    minutes = (time.monotonic() - started) / 60
    steps = ", ".join(f"{name} {seconds / 60:.1f}" for name, seconds in timings.items())
    typer.secho(f"\nDone in {minutes:.1f} min ({steps}; load average {os.getloadavg()[0]:.1f}). Next:", bold=True)
    if result.mlflow_run_id:
        typer.echo(f"  MLflow run:  {result.mlflow_run_id}")
    typer.echo(f"  MLflow UI:   mlflow ui --backend-store-uri {paths.mlflow_uri()} --host 127.0.0.1 --port 5000")
    typer.echo("  Notebook:    in JupyterLab, `from toolkit import ui; ui.experiment_panel(\"quickstart\")`"
               " (in a checkout: notebooks/01_quickstart.ipynb)")
    typer.echo("  Stop server: tierlab serve down")


@contextlib.contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        timings[name] = time.monotonic() - started


def _serve(port: int, timings: dict[str, float]) -> None:
    from toolkit import local_models, serve

    typer.secho("1/4 preparing the packaged local model", bold=True)
    with _timed(timings, "model"):
        local_models.prepare("smollm2-135m-instruct")
    typer.secho("2/4 serving it with vLLM on Ray Serve", bold=True)
    with _timed(timings, "server"):
        handle = serve.up(profile="cpu-smollm2", port=port)
    typer.echo(f"    endpoint: {handle.base_url}")
    os.environ["TIERLAB_LOCAL_URL"] = handle.base_url  # the catalog's local/* entries and the emulator's backend


def _index(spec) -> None:
    """Build (or bring up to date) the index the spec's RAG arms search, before the run, so its cost shows apart:
    the packaged corpus comes with its vectors (``toolkit.retrieval.prebuilt``), so this writes chromadb only."""
    from toolkit.experiments.components import Components

    if not any(m.retrieves for m in spec.methods):
        typer.echo("    no arm retrieves")
        return
    _, report, scope = Components().index(spec)
    typer.echo(f"    {scope.label}: {report.total_chunks} chunks, {report.chunks_embedded} embedded now")
