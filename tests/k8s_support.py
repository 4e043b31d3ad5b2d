"""Shared helpers of the k8s tests: the overlays rendered once per session by the real `kubectl kustomize`."""

from __future__ import annotations

import copy
import functools

import yaml

from toolkit.k8s.manifests import K8S_DIR, kustomize, overlays

OVERLAYS = {p.name: p for p in overlays()}


@functools.cache
def _rendered(name: str) -> tuple[dict, ...]:
    return tuple(kustomize(OVERLAYS[name]))


def rendered(name: str) -> list[dict]:
    """A fresh deep copy of the overlay's documents (tests may edit them)."""
    return copy.deepcopy(list(_rendered(name)))


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    matches = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def cluster(docs: list[dict]) -> dict:
    return one(docs, "RayService")["spec"]["rayClusterConfig"]


def serve_config(docs: list[dict]) -> dict:
    return yaml.safe_load(one(docs, "RayService")["spec"]["serveConfigV2"])


def with_serve_config(rs: dict, edit) -> dict:
    """A copy of the RayService whose serveConfigV2 went through ``edit(config)``."""
    rs = copy.deepcopy(rs)
    config = yaml.safe_load(rs["spec"]["serveConfigV2"])
    edit(config)
    rs["spec"]["serveConfigV2"] = yaml.safe_dump(config)
    return rs


__all__ = ["K8S_DIR", "OVERLAYS", "cluster", "one", "rendered", "serve_config", "with_serve_config"]
