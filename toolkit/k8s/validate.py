"""``tierlab k8s validate``: every offline check, per overlay; an empty list means valid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from toolkit.k8s.capacity import check_capacity
from toolkit.k8s.checkov import run_checkov
from toolkit.k8s.hygiene import check_hygiene
from toolkit.k8s.manifests import K8S_DIR, K8S_VERSION, K8sError, kustomize, overlays
from toolkit.k8s.render import load_render_spec, render
from toolkit.k8s.schemas import lint_yaml, validate_schemas
from toolkit.k8s.serve_config import check_serve_config

DATA = "data"  # the namespace and data volumes: applied once, never deleted with an overlay


def validate_overlay_docs(docs: list[dict[str, Any]], vllm: str, *, version: str = K8S_VERSION) -> list[str]:
    """Schemas, serve config (Ray's builder), capacity (Ray's autoscaler) and hygiene of one rendered overlay."""
    problems = validate_schemas(docs, version=version)
    for doc in (d for d in docs if d.get("kind") == "RayService"):
        found, demands = check_serve_config(doc, vllm)
        problems += found + check_capacity(doc, demands)
    return problems + check_hygiene(docs)


def validate(root: Path = K8S_DIR, *, checkov: bool = True, version: str = K8S_VERSION) -> list[str]:
    """Every offline check over ``root`` (the ``k8s/`` folder)."""
    problems = lint_yaml(root)
    example = root / "secrets.example.yaml"
    docs = [d for d in yaml.safe_load_all(example.read_text()) if d]
    problems += [f"secrets.example.yaml: {p}" for p in validate_schemas(docs, version=version)]
    try:
        problems += [f"{DATA}: {p}" for p in validate_schemas(kustomize(root / DATA), version=version)]
    except K8sError as exc:
        problems.append(str(exc))
    try:
        problems += [f"{p} is stale: run `tierlab k8s render`" for p in render(root, check=True)]
    except K8sError as exc:
        problems.append(str(exc))
    for overlay in overlays(root):
        try:
            spec = load_render_spec(overlay)
            docs = kustomize(overlay)
        except K8sError as exc:
            problems.append(str(exc))
            continue
        found = validate_overlay_docs(docs, spec.vllm, version=version)
        if checkov:
            found += run_checkov(docs)
        problems += [f"overlays/{overlay.name}: {p}" for p in found]
    return problems
