"""The `tierlab` command line. Each area owns its commands in its own module; this file only wires them.

Modules named here must stay cheap to import: heavy imports (vllm, torch, mlflow, chromadb) go inside commands.
"""

import typer

from toolkit import local_models, run_cli, serve, strategy_cli
from toolkit.demo import demo
from toolkit.judges import cli as judges_cli
from toolkit.k8s import cli as k8s_cli
from toolkit.metrics import cli as metrics_cli
from toolkit.planner.cli import plan
from toolkit.planner.sample_size_cli import power
from toolkit.providers import cli as providers_cli
from toolkit.retrieval import cli as corpus_cli
from toolkit.review import cli as review_cli

app = typer.Typer(
    help="TierLab: free-tier LLM APIs vs self-hosted vLLM on Ray Serve, with RAG and CoVe.", no_args_is_help=True
)

app.command(name="demo")(demo)
app.add_typer(local_models.cli, name="models")
app.add_typer(serve.cli, name="serve")
app.command(name="providers")(providers_cli.providers)
app.command(name="emulate")(providers_cli.emulate)
app.add_typer(corpus_cli.cli, name="corpus")
app.add_typer(run_cli.cli)  # run, report
app.add_typer(strategy_cli.cli, name="strategies")
app.command(name="plan")(plan)
app.command(name="power")(power)
app.add_typer(k8s_cli.app, name="k8s")
app.add_typer(judges_cli.cli, name="judge")
app.add_typer(metrics_cli.cli, name="metrics")
app.add_typer(review_cli.cli, name="review")
