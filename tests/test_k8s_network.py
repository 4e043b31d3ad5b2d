"""NetworkPolicy semantics (matchLabels selectors, what the manifests use) evaluated on the rendered overlays:
notebooks reach only the three client ports, Ray's GCS and dashboard stay internal, Prometheus scrapes metrics."""

from __future__ import annotations

from k8s_support import one, rendered


def _selects(selector: dict | None, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in ((selector or {}).get("matchLabels") or {}).items())


def _admits(policies: list[dict], src: dict, dst_labels: dict, port: int) -> bool:
    applying = [
        p
        for p in policies
        if _selects(p["spec"]["podSelector"], dst_labels) and "Ingress" in p["spec"]["policyTypes"]
    ]
    if not applying:
        return True
    for policy in applying:
        for rule in policy["spec"].get("ingress") or []:
            ports = [p["port"] for p in rule.get("ports") or []]
            if ports and port not in ports:
                continue
            for peer in rule.get("from") or []:
                ns_ok = (
                    _selects(peer["namespaceSelector"], src["ns_labels"])
                    if "namespaceSelector" in peer
                    else src["ns"] == "tierlab"
                )
                pod_ok = _selects(peer.get("podSelector"), src["labels"]) if "podSelector" in peer else True
                if ns_ok and pod_ok:
                    return True
    return False


def _labels(docs: list[dict], kind: str, name: str) -> dict:
    doc = one(docs, kind, name)
    if kind == "RayService":
        return doc["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["metadata"]["labels"]
    if kind == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    return doc["spec"]["template"]["metadata"]["labels"]


def test_network_policies_admit_notebooks_to_client_ports_only():
    docs = rendered("cpu-dev")
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    notebook = {"ns": "tierlab", "ns_labels": {}, "labels": _labels(docs, "Deployment", "tierlab-jupyterlab")}
    hub_user = {"ns": "jhub", "ns_labels": {"tierlab.io/notebooks": "true"}, "labels": {"app": "jupyterhub"}}
    stranger = {"ns": "other", "ns_labels": {}, "labels": {"tierlab.io/client": "true"}}
    neighbour = {"ns": "tierlab", "ns_labels": {}, "labels": {"app": "something"}}
    ray = _labels(docs, "RayService", "tierlab-llm")
    targets = {
        "serve": (ray, 8000),
        "mlflow": (_labels(docs, "Deployment", "tierlab-mlflow"), 5000),
        "chroma proxy": (_labels(docs, "StatefulSet", "tierlab-chroma"), 8000),
    }
    for src in (notebook, hub_user):
        for name, (labels, port) in targets.items():
            assert _admits(policies, src, labels, port), name
    for src in (stranger, neighbour):
        for name, (labels, port) in targets.items():
            assert not _admits(policies, src, labels, port), name
    chroma = _labels(docs, "StatefulSet", "tierlab-chroma")
    assert not _admits(policies, notebook, chroma, 8001), "chroma itself is only reachable through the proxy"
    for port in (6379, 8265, 10001, 8080):  # GCS, dashboard, client, metrics stay away from notebooks
        assert not _admits(policies, notebook, ray, port), port
    assert not _admits(policies, notebook, _labels(docs, "Deployment", "tierlab-jupyterlab"), 8888)


def test_internal_paths_are_open_exactly_where_needed():
    docs = rendered("gpu")
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    ray = _labels(docs, "RayService", "tierlab-llm")
    postgres = _labels(docs, "StatefulSet", "tierlab-postgres")
    mlflow = {"ns": "tierlab", "ns_labels": {}, "labels": _labels(docs, "Deployment", "tierlab-mlflow")}
    backup = {"ns": "tierlab", "ns_labels": {}, "labels": _labels(docs, "CronJob", "tierlab-postgres-backup")}
    chroma = {"ns": "tierlab", "ns_labels": {}, "labels": _labels(docs, "StatefulSet", "tierlab-chroma")}
    assert _admits(policies, mlflow, postgres, 5432) and _admits(policies, backup, postgres, 5432)
    assert not _admits(policies, chroma, postgres, 5432)
    operator = {
        "ns": "kuberay-system",
        "ns_labels": {"kubernetes.io/metadata.name": "kuberay-system"},
        "labels": {"app.kubernetes.io/name": "kuberay-operator"},
    }
    assert _admits(policies, operator, ray, 8265) and not _admits(policies, operator, ray, 6379)
    assert _admits(policies, {"ns": "tierlab", "ns_labels": {}, "labels": ray}, ray, 6379)
    prometheus = {
        "ns": "monitoring",
        "ns_labels": {"tierlab.io/monitoring": "true"},
        "labels": {"app.kubernetes.io/name": "prometheus"},
    }
    assert _admits(policies, prometheus, ray, 8080)
    assert not _admits(policies, prometheus, ray, 8265) and not _admits(policies, prometheus, ray, 6379)
    assert not _admits(policies, {**prometheus, "ns_labels": {}}, ray, 8080), "unlabelled namespaces stay out"
