"""`tierlab demo`: the main job on the embedded defaults, end to end, from a fresh checkout.

Prepare the packaged local model, serve it with vLLM on Ray Serve, ingest the dev corpus into embedded chromadb, run the
quickstart experiment (local model + the emulated free tier) and log it to the local MLflow store. Every step is
idempotent, so a second `make demo` reuses the model, the server, the index and the answers already stored.
"""

import os
import time

import typer

from toolkit import paths


def demo(
    spec: str = typer.Option("quickstart", help="Experiment spec: an example name (quickstart, …) or a YAML path."),
    port: int = typer.Option(8000, help="Port of the local Ray Serve endpoint (127.0.0.1)."),
) -> None:
    """Run the whole default experiment on this machine and say what to open next."""
    from toolkit import local_models, serve
    from toolkit.examples import resolve_spec

    loaded = resolve_spec(spec)  # a bad name fails here, before minutes of model preparation
    started = time.monotonic()
    typer.secho("1/3 preparing the packaged local model", bold=True)
    local_models.prepare("smollm2-135m-instruct")
    typer.secho("2/3 serving it with vLLM on Ray Serve", bold=True)
    handle = serve.up(profile="cpu-smollm2", port=port)
    typer.echo(f"    endpoint: {handle.base_url}")
    os.environ["TIERLAB_LOCAL_URL"] = handle.base_url  # the catalog's local/* entries and the emulator's backend
    typer.secho("3/3 running the experiment (ingests the corpus it needs into embedded chromadb first)", bold=True)
    from toolkit.experiments.report import print_summary
    from toolkit.experiments.runner import run_experiment
    from toolkit.tracking import mlflow_logger

    result = run_experiment(loaded, log=mlflow_logger())
    print_summary(result)
    minutes = (time.monotonic() - started) / 60
    typer.secho(f"\nDone in {minutes:.1f} min. Next:", bold=True)
    if result.mlflow_run_id:
        typer.echo(f"  MLflow run:  {result.mlflow_run_id}")
    typer.echo(f"  MLflow UI:   mlflow ui --backend-store-uri {paths.mlflow_uri()} --host 127.0.0.1 --port 5000")
    typer.echo("  Notebook:    in JupyterLab, `from toolkit import ui; ui.experiment_panel(\"quickstart\")`"
               " (in a checkout: notebooks/01_quickstart.ipynb)")
    typer.echo("  Stop server: tierlab serve down")
