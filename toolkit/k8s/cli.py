"""``tierlab k8s render|validate``."""

from __future__ import annotations

import typer

from toolkit import paths
from toolkit.k8s.manifests import K8sError, overlays

app = typer.Typer(
    help="Kubernetes manifests (k8s/): render the RayService serve config, validate offline.",
    no_args_is_help=True,
)


@app.command("render")
def render_cmd(
    check: bool = typer.Option(False, "--check", help="write nothing; fail if a committed file is stale"),
) -> None:
    """Render each overlay's serveConfigV2 from serving/configs/*.yaml into k8s/overlays/*/serve-config.yaml."""
    from toolkit.k8s.render import render

    try:
        changed = render(check=check)
    except K8sError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for path in changed:
        typer.echo(f"{'stale' if check else 'wrote'}: {path.relative_to(paths.REPO_ROOT)}")
    if check and changed:
        typer.echo("run `tierlab k8s render` and commit the result", err=True)
        raise typer.Exit(1)
    if not changed:
        typer.echo("rendered manifests are up to date")


@app.command("validate")
def validate_cmd(
    checkov: bool = typer.Option(True, "--checkov/--no-checkov", help="also run the checkov policy scan"),
) -> None:
    """Validate every overlay offline: yamllint, kustomize, schemas, CRDs, serve config and capacity with Ray's
    own builder and autoscaler, pod hygiene, checkov."""
    from toolkit.k8s.validate import validate

    try:
        problems = validate(checkov=checkov)
    except K8sError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for p in problems:
        typer.echo(p)
    if problems:
        typer.echo(f"{len(problems)} problem(s)", err=True)
        raise typer.Exit(1)
    typer.echo(f"all {len(overlays())} overlays valid")
