"""The `tierlab` command line. Each area owns a Typer sub-app in its own module; this file only wires them.

Modules named here must stay cheap to import: heavy imports (vllm, torch, mlflow, chromadb) go inside commands.
"""

import typer

app = typer.Typer(help="TierLab: free-tier LLM APIs vs self-hosted vLLM on Ray Serve, with RAG and CoVe.", no_args_is_help=True)

# Sub-apps are added below, one line per area.
from toolkit.demo import demo  # noqa: E402

app.command(name="demo")(demo)
from toolkit import local_models  # noqa: E402
app.add_typer(local_models.cli, name="models")
from toolkit import serve  # noqa: E402
app.add_typer(serve.cli, name="serve")
from toolkit.providers import cli as providers_cli  # noqa: E402
app.command(name="providers")(providers_cli.providers)
app.command(name="emulate")(providers_cli.emulate)
from toolkit.retrieval import cli as corpus_cli  # noqa: E402
app.add_typer(corpus_cli.cli, name="corpus")
from toolkit.experiments import cli as experiments_cli  # noqa: E402
app.add_typer(experiments_cli.cli)
from toolkit.planner.cli import plan as planner_plan  # noqa: E402
app.command(name="plan")(planner_plan)
from toolkit import k8s  # noqa: E402
app.add_typer(k8s.cli, name="k8s")
from toolkit.strategies import cli as strategies_cli  # noqa: E402
app.add_typer(strategies_cli.cli, name="strategies")
