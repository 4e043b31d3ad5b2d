"""Production rules for every pod template, including the RayService's (which checkov does not understand),
and for the overlay as a whole (data outlives ``kubectl delete -k``, disruptions are budgeted)."""

from __future__ import annotations

import re
from typing import Any

from toolkit.k8s.manifests import RAY_KINDS, ident, pod_templates, ray_cluster_spec

_SECRETISH = re.compile(r"KEY|TOKEN|PASSWORD|SECRET|CREDENTIAL", re.IGNORECASE)
PART_OF = "app.kubernetes.io/part-of"
SA_TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
RAY_LOGS = "ray-logs"  # KubeRay mounts the volume of this name at /tmp/ray into the autoscaler sidecar too


def _container_problems(
    where: str, container: dict[str, Any], pod: dict[str, Any], ray: bool, finite: bool
) -> list[str]:
    name, sc, psc = (
        container.get("name"),
        container.get("securityContext") or {},
        pod.get("securityContext") or {},
    )
    out = []
    res = container.get("resources") or {}
    for part in ("requests", "limits"):
        missing = [r for r in ("cpu", "memory") if r not in (res.get(part) or {})]
        if missing:
            out.append(f"{where} container {name}: no resources.{part} for {', '.join(missing)}")
    if sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is not True:
        out.append(f"{where} container {name}: runAsNonRoot must be true")
    if sc.get("runAsUser", psc.get("runAsUser")) == 0:
        out.append(f"{where} container {name}: runs as uid 0")
    if sc.get("allowPrivilegeEscalation") is not False:
        out.append(f"{where} container {name}: allowPrivilegeEscalation must be false")
    if sc.get("privileged"):
        out.append(f"{where} container {name}: privileged")
    if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
        out.append(f"{where} container {name}: capabilities must drop ALL")
    seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        out.append(f"{where} container {name}: seccompProfile must be RuntimeDefault")
    if not ray and sc.get("readOnlyRootFilesystem") is not True:
        out.append(
            f"{where} container {name}: readOnlyRootFilesystem must be true (mount emptyDirs for scratch)"
        )
    if not ray and not finite:  # probes are for servers, not for init containers or Jobs
        out += [
            f"{where} container {name}: no {p}"
            for p in ("readinessProbe", "livenessProbe")
            if p not in container
        ]
    image = str(container.get("image", ""))
    if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
        out.append(
            f"{where} container {name}: image {image!r} has no fixed tag (set it with kustomize `images:`)"
        )
    for env in container.get("env") or []:
        secretish = _SECRETISH.search(env.get("name", "")) and not env.get("name", "").endswith("_FILE")
        if secretish and "value" in env:
            out.append(f"{where} container {name}: env {env['name']} holds a literal value; use secretKeyRef")
    return out


def _ephemeral_problems(where: str, container: dict[str, Any], pod: dict[str, Any]) -> list[str]:
    """A container writing to a disk-backed emptyDir must request ephemeral-storage (or the node evicts it)."""
    disk = {
        v["name"]
        for v in pod.get("volumes") or []
        if "emptyDir" in v and (v["emptyDir"] or {}).get("medium") != "Memory"
    }
    mounts = [m["name"] for m in container.get("volumeMounts") or [] if m.get("name") in disk]
    requests = (container.get("resources") or {}).get("requests") or {}
    if mounts and "ephemeral-storage" not in requests:
        return [
            f"{where} container {container.get('name')}: writes to emptyDir {mounts} but requests no "
            "ephemeral-storage"
        ]
    return []


def _ray_pod_problems(where: str, pod: dict[str, Any]) -> list[str]:
    out = []
    ray = (pod.get("containers") or [{}])[0]
    for mount in ray.get("volumeMounts") or []:
        if mount.get("mountPath") == "/dev/shm":
            out.append(
                f"{where}: Ray container mounts its own /dev/shm; remove it, KubeRay sizes /dev/shm from "
                "the container's memory (the object store lives there)"
            )
        if mount.get("mountPath") == "/tmp/ray" and mount.get("name") != RAY_LOGS:
            out.append(
                f"{where}: the /tmp/ray volume must be named {RAY_LOGS!r} (KubeRay shares that volume "
                "with the autoscaler sidecar; another name gives the sidecar an empty one)"
            )
    return out


def _autoscaler_problems(doc: dict[str, Any]) -> list[str]:
    cluster = ray_cluster_spec(doc)
    if not cluster.get("enableInTreeAutoscaling"):
        return []
    opts = cluster.get("autoscalerOptions") or {}
    sc = opts.get("securityContext") or {}
    out = []
    if (
        not opts.get("resources")
        or sc.get("runAsNonRoot") is not True
        or "ALL" not in ((sc.get("capabilities") or {}).get("drop") or [])
    ):
        out.append(
            f"{ident(doc)}: autoscalerOptions needs resources and a non-root securityContext dropping ALL "
            "capabilities (KubeRay injects the autoscaler container from it)"
        )
    head = ((cluster.get("headGroupSpec") or {}).get("template") or {}).get("spec") or {}
    projected = {
        v["name"]
        for v in head.get("volumes") or []
        if any("serviceAccountToken" in s for s in (v.get("projected") or {}).get("sources") or [])
    }
    if head.get("automountServiceAccountToken") is False and not any(
        m.get("mountPath") == SA_TOKEN_DIR and m.get("name") in projected
        for m in opts.get("volumeMounts") or []
    ):
        out.append(
            f"{ident(doc)}: the head does not automount a ServiceAccount token, so the autoscaler needs "
            f"a projected serviceAccountToken volume mounted at {SA_TOKEN_DIR} via "
            "autoscalerOptions.volumeMounts (or it cannot reach the API server and never scales)"
        )
    return out


def _selects(selector: dict[str, Any] | None, labels: dict[str, Any]) -> bool:
    wanted = (selector or {}).get("matchLabels") or {}
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def _budget_problems(docs: list[dict[str, Any]]) -> list[str]:
    """The head and every Deployment/StatefulSet must be covered by a PodDisruptionBudget."""
    budgets = [d["spec"].get("selector") for d in docs if d.get("kind") == "PodDisruptionBudget"]
    out = []
    for doc in docs:
        if doc.get("kind") in ("Deployment", "StatefulSet"):
            labels = ((doc["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        elif doc.get("kind") in RAY_KINDS:
            head = (ray_cluster_spec(doc).get("headGroupSpec") or {}).get("template") or {}
            labels = (head.get("metadata") or {}).get("labels") or {}
        else:
            continue
        if not any(_selects(b, labels) for b in budgets):
            what = "the Ray head" if doc.get("kind") in RAY_KINDS else "its pods"
            out.append(f"{ident(doc)}: no PodDisruptionBudget selects {what} (labels {labels})")
    return out


def check_hygiene(docs: list[dict[str, Any]]) -> list[str]:
    """Production rules for every pod template and for the overlay's set of documents."""
    problems = []
    for doc in docs:
        ray = doc.get("kind") in RAY_KINDS
        for label, template in pod_templates(doc):
            where, pod = f"{ident(doc)} {label}", template.get("spec") or {}
            if PART_OF not in ((template.get("metadata") or {}).get("labels") or {}):
                problems.append(f"{where}: pod template has no {PART_OF} label")
            if pod.get("automountServiceAccountToken") is not False:
                problems.append(
                    f"{where}: automountServiceAccountToken must be false (no pod here calls the "
                    "API server, except the Ray autoscaler through its own mount)"
                )
            job = doc.get("kind") in ("Job", "CronJob")
            for c in pod.get("containers") or []:
                problems += _container_problems(where, c, pod, ray, finite=job)
                problems += _ephemeral_problems(where, c, pod)
            for c in pod.get("initContainers") or []:
                problems += _container_problems(where, c, pod, ray, finite=True)
            if ray:
                problems += _ray_pod_problems(where, pod)
        if ray:
            problems += _autoscaler_problems(doc)
        if doc.get("kind") == "Secret":
            problems.append(
                f"{ident(doc)}: Secrets must not be part of the manifests; create them from "
                "k8s/secrets.example.yaml"
            )
        if doc.get("kind") in ("Namespace", "PersistentVolumeClaim"):
            problems.append(
                f"{ident(doc)}: a {doc['kind']} must not be part of an overlay (`kubectl delete -k` would "
                "delete it and the data with it); it belongs in k8s/data, applied once"
            )
    problems += _budget_problems(docs)
    policies = [d for d in docs if d.get("kind") == "NetworkPolicy"]
    if docs and not any(
        p["spec"].get("podSelector") in ({}, None)
        and "Ingress" in p["spec"].get("policyTypes", [])
        and not p["spec"].get("ingress")
        for p in policies
    ):
        problems.append("no default-deny ingress NetworkPolicy (podSelector: {}, policyTypes: [Ingress])")
    return problems
