"""k8s/: rendered serve config, offline validation (real kubectl kustomize, real schemas and CRDs, real Ray
schemas, real checkov), and negative cases proving each validator catches what it claims to."""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from toolkit import k8s

OVERLAYS = {p.name: p for p in k8s.overlays()}


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    """Every overlay through `kubectl kustomize`."""
    return {name: k8s.kustomize(path) for name, path in OVERLAYS.items()}


def _one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    matches = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def test_both_overlays_exist_and_render(rendered):
    assert set(OVERLAYS) == {"gpu", "cpu-dev"}
    for name, docs in rendered.items():
        kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
        assert {
            ("RayService", "tierlab-llm"),
            ("Deployment", "tierlab-mlflow"),
            ("Service", "tierlab-mlflow"),
            ("StatefulSet", "tierlab-postgres"),
            ("StatefulSet", "tierlab-chroma"),
            ("Service", "tierlab-chroma"),
            ("NetworkPolicy", "default-deny-ingress"),
        } <= kinds, name
        namespaced = [d for d in docs if d["kind"] != "Namespace"]
        assert {d["metadata"].get("namespace") for d in namespaced} == {"tierlab"}, name
    assert ("Deployment", "tierlab-jupyterlab") in {
        (d["kind"], d["metadata"]["name"]) for d in rendered["cpu-dev"]
    }


# ----------------------------------------------------------------------------------------------- yamllint


def test_yamllint_clean():
    assert k8s.lint_yaml() == []


def test_yamllint_catches_a_bad_file(tmp_path):
    (tmp_path / "bad.yaml").write_text("a: 1\na: 2\nb:   [1,2]   \n")
    problems = k8s.lint_yaml(tmp_path)
    assert any("duplication of key" in p for p in problems)
    assert any("trailing-spaces" in p for p in problems)


# ---------------------------------------------------------------------------------------------- kustomize


def test_a_broken_overlay_is_reported(tmp_path):
    tree = tmp_path / "k8s"
    shutil.copytree(k8s.K8S_DIR, tree)
    patch = tree / "overlays" / "gpu" / "gpu-workers.yaml"
    patch.write_text(
        patch.read_text().replace("/workerGroupSpecs/0/groupName", "/workerGroupSpecz/0/groupName")
    )
    with pytest.raises(k8s.K8sError, match="kubectl kustomize .*gpu failed"):
        k8s.kustomize(tree / "overlays" / "gpu")


# ------------------------------------------------------------------------------------------------ schemas


def test_every_overlay_passes_core_and_crd_schemas(rendered):
    for name, docs in rendered.items():
        assert k8s.validate_schemas(docs) == [], name


def test_schema_errors_are_all_reported(rendered):
    docs = rendered["gpu"]
    dep = copy.deepcopy(_one(docs, "Deployment", "tierlab-mlflow"))
    dep["spec"]["replica"] = 2
    dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    rs = copy.deepcopy(_one(docs, "RayService"))
    group = rs["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]
    group["maxReplica"] = 3
    group["minReplicas"] = "one"
    rs["metadata"]["labelz"] = {}
    problems = k8s.validate_schemas([dep, rs])
    assert any("Deployment/tierlab-mlflow: spec:" in p and "'replica' was unexpected" in p for p in problems)
    assert any("containerPort: 'http' is not of type 'integer'" in p for p in problems)
    assert any("workerGroupSpecs.0:" in p and "'maxReplica' was unexpected" in p for p in problems)
    assert any("minReplicas: 'one' is not of type 'integer'" in p for p in problems)
    assert any("metadata:" in p and "'labelz' was unexpected" in p for p in problems)
    assert len(problems) == 5


def test_unknown_kinds_fail_instead_of_passing():
    docs = [
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
        {"apiVersion": "v1", "kind": "Affinity", "metadata": {"name": "a"}},  # a schema file, but not a kind
        {"metadata": {"name": "no-kind"}},
    ]
    problems = k8s.validate_schemas(docs)
    assert any("no schema for kind Widget" in p for p in problems)
    assert any("no schema for kind Affinity" in p for p in problems)
    assert any("missing kind or apiVersion" in p for p in problems)


def test_fields_with_cel_rules_cannot_pass_offline(rendered):
    rs = copy.deepcopy(_one(rendered["gpu"], "RayService"))
    rs["spec"]["rayClusterConfig"]["managedBy"] = "ray.io/kuberay-operator"
    assert any("CEL rules that cannot be checked offline" in p for p in k8s.validate_schemas([rs]))


def test_crd_dir_override(monkeypatch, tmp_path):
    monkeypatch.setenv("TIERLAB_CRD_DIR", str(tmp_path))
    with pytest.raises(k8s.K8sError, match="TIERLAB_CRD_DIR"):
        k8s.crd_dir()


def test_strict_crd_schema_keeps_open_maps_open():
    strict = k8s._strict(
        {
            "type": "object",
            "properties": {"labels": {"type": "object", "additionalProperties": {"type": "string"}}},
        }
    )
    assert strict["additionalProperties"] is False
    assert strict["properties"]["labels"]["additionalProperties"] == {"type": "string"}
    loose = k8s._strict({"type": "object", "properties": {}, "x-kubernetes-preserve-unknown-fields": True})
    assert "additionalProperties" not in loose


# ------------------------------------------------------------------------------------------ RayService shape


def test_gpu_overlay_shape(rendered):
    cluster = _one(rendered["gpu"], "RayService")["spec"]["rayClusterConfig"]
    assert cluster["headGroupSpec"]["rayStartParams"]["num-gpus"] == "0"
    head = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" not in head["resources"]["limits"]
    (group,) = cluster["workerGroupSpecs"]
    assert (group["minReplicas"], group["maxReplicas"]) == (1, 4)
    worker = group["template"]["spec"]["containers"][0]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "1"
    token = next(e for e in worker["env"] if e["name"] == "HF_TOKEN")
    assert token == {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "tierlab-hf-token", "key": "token"}},
    }
    assert worker["image"].startswith("ghcr.io/tierlab/ray-gpu:")
    serve = yaml.safe_load(_one(rendered["gpu"], "RayService")["spec"]["serveConfigV2"])
    assert (
        serve["applications"][0]["args"]["llm_configs"][0]["model_loading_config"]["model_id"]
        == "llama-3.1-8b-instruct"
    )


def test_cpu_dev_overlay_has_no_gpus_and_the_baked_model(rendered):
    text = yaml.safe_dump_all(rendered["cpu-dev"])
    assert "nvidia.com/gpu" not in text
    serve = yaml.safe_load(_one(rendered["cpu-dev"], "RayService")["spec"]["serveConfigV2"])
    (cfg,) = serve["applications"][0]["args"]["llm_configs"]
    assert cfg["model_loading_config"] == {
        "model_id": "smollm2-135m-instruct",
        "model_source": "/opt/tierlab/models/smollm2-135m-instruct",
    }
    dockerfile = (k8s.K8S_DIR / "images" / "ray-cpu.Dockerfile").read_text()
    assert (
        "TIERLAB_MODELS=/opt/tierlab/models" in dockerfile
        and "models prepare smollm2-135m-instruct" in dockerfile
    )


# -------------------------------------------------------------------------------- render (imports ray.serve.llm)


def test_committed_manifests_match_rendering():
    assert k8s.render(check=True) == [], "run `tierlab k8s render` and commit the result"


def test_rendered_serve_config_is_serving_config_output(rendered):
    from serving.config import serve_config

    for name, path in OVERLAYS.items():
        spec = k8s.load_render_spec(path)
        expected = serve_config(spec.profiles, app_name=k8s.RAYSERVICE_NAME, env=spec.env)
        assert yaml.safe_load(_one(rendered[name], "RayService")["spec"]["serveConfigV2"]) == expected, name


def test_render_detects_and_repairs_hand_edits(tmp_path):
    tree = tmp_path / "k8s"
    shutil.copytree(k8s.K8S_DIR, tree)
    target = tree / "overlays" / "gpu" / k8s.RENDERED
    target.write_text(target.read_text().replace("max_replicas: 4", "max_replicas: 8"))
    assert k8s.render(tree, check=True) == [target]
    assert k8s.render(tree) == [target]
    assert k8s.render(tree, check=True) == []
    assert "max_replicas: 4" in target.read_text()


def test_bad_render_spec_is_a_clear_error(tmp_path):
    (tmp_path / k8s.RENDER_SPEC).write_text("profiles: [gpu-llama-3.1-8b-instruc]\n")
    with pytest.raises(k8s.K8sError, match="Did you mean 'gpu-llama-3.1-8b-instruct'"):
        k8s.render_overlay(tmp_path)
    (tmp_path / k8s.RENDER_SPEC).write_text("profile: cpu-smollm2\n")
    with pytest.raises(k8s.K8sError, match="is invalid"):
        k8s.render_overlay(tmp_path)


def test_cli_render_check():
    from toolkit.cli import app

    result = CliRunner().invoke(app, ["k8s", "render", "--check"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output


# ------------------------------------------------------------------------------------ serve config semantics


def test_serve_configs_pass_rays_own_schemas(rendered):
    for name, docs in rendered.items():
        assert k8s.validate_serve_configs(docs) == [], name


def _with_serve_config(rs: dict, edit) -> dict:
    rs = copy.deepcopy(rs)
    config = yaml.safe_load(rs["spec"]["serveConfigV2"])
    edit(config)
    rs["spec"]["serveConfigV2"] = yaml.safe_dump(config)
    return rs


def test_bad_serve_configs_are_caught(rendered):
    rs = _one(rendered["gpu"], "RayService")

    def typo(c):
        c["applications"][0]["args"]["llm_configs"][0]["engine_kwarg"] = {}

    def no_models(c):
        c["applications"][0]["args"]["llm_configs"] = []

    def bad_serve_field(c):
        c["applications"][0]["route_prefx"] = "/"

    for edit, expected in [(typo, "engine_kwarg"), (no_models, "empty"), (bad_serve_field, "route_prefx")]:
        problems = k8s.validate_serve_configs([_with_serve_config(rs, edit)])
        assert len(problems) == 1 and expected in problems[0], (edit.__name__, problems)
    empty = copy.deepcopy(rs)
    empty["spec"]["serveConfigV2"] = ""
    assert "serveConfigV2 is empty" in k8s.validate_serve_configs([empty])[0]


def test_worker_capacity_must_cover_max_replicas(rendered):
    rs = copy.deepcopy(_one(rendered["gpu"], "RayService"))
    rs["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["maxReplicas"] = 2
    (problem,) = k8s.validate_serve_configs([rs])
    assert "needs 4 GPUs at max replicas but worker groups offer 2" in problem


# ------------------------------------------------------------------------------------------------ hygiene


def test_hygiene_clean(rendered):
    for name, docs in rendered.items():
        assert k8s.check_hygiene(docs) == [], name


def test_hygiene_catches_unsafe_pods(rendered):
    docs = copy.deepcopy(rendered["gpu"])
    mlflow = _one(docs, "Deployment", "tierlab-mlflow")["spec"]["template"]["spec"]
    container = mlflow["containers"][0]
    del container["resources"]["limits"]
    del container["readinessProbe"]
    container["securityContext"] = {"privileged": True}
    container["image"] = "ghcr.io/tierlab/mlflow:latest"
    container["env"].append({"name": "GROQ_API_KEY", "value": "gsk_not_a_real_key"})
    worker = _one(docs, "RayService")["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["template"]["spec"]
    worker["securityContext"]["runAsNonRoot"] = False
    docs = [d for d in docs if d["metadata"]["name"] != "default-deny-ingress"]
    docs.append(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "leak"}, "stringData": {"k": "v"}}
    )
    problems = "\n".join(k8s.check_hygiene(docs))
    for expected in [
        "tierlab-mlflow template container mlflow: no resources.limits for cpu, memory",
        "container mlflow: privileged",
        "container mlflow: allowPrivilegeEscalation must be false",
        "container mlflow: capabilities must drop ALL",
        "container mlflow: readOnlyRootFilesystem must be true",
        "container mlflow: no readinessProbe",
        "has no fixed tag",
        "env GROQ_API_KEY holds a literal value",
        "worker group gpu-l4 container ray-worker: runAsNonRoot must be true",
        "Secret/leak: Secrets must not be part of the manifests",
        "no default-deny ingress NetworkPolicy",
    ]:
        assert expected in problems


# ------------------------------------------------------------------------------------------ network policy


def _selects(selector: dict | None, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in ((selector or {}).get("matchLabels") or {}).items())


def _admits(policies: list[dict], src: dict, dst_labels: dict, port: int) -> bool:
    """Kubernetes NetworkPolicy ingress semantics for matchLabels selectors (all the manifests use)."""
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


def _pod_labels(docs: list[dict], kind: str, name: str) -> dict:
    doc = _one(docs, kind, name)
    if kind == "RayService":
        return doc["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["metadata"]["labels"]
    return doc["spec"]["template"]["metadata"]["labels"]


def test_network_policies_admit_notebooks_to_client_ports_only(rendered):
    docs = rendered["cpu-dev"]
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    notebook = {
        "ns": "tierlab",
        "ns_labels": {},
        "labels": _pod_labels(docs, "Deployment", "tierlab-jupyterlab"),
    }
    hub_user = {"ns": "jhub", "ns_labels": {"tierlab.io/notebooks": "true"}, "labels": {"app": "jupyterhub"}}
    stranger = {"ns": "other", "ns_labels": {}, "labels": {"tierlab.io/client": "true"}}
    neighbour = {"ns": "tierlab", "ns_labels": {}, "labels": {"app": "something"}}
    mlflow = {"ns": "tierlab", "ns_labels": {}, "labels": _pod_labels(docs, "Deployment", "tierlab-mlflow")}
    operator = {
        "ns": "kuberay-system",
        "ns_labels": {"kubernetes.io/metadata.name": "kuberay-system"},
        "labels": {"app.kubernetes.io/name": "kuberay-operator"},
    }
    ray = _pod_labels(docs, "RayService", "tierlab-llm")
    targets = {
        "serve": (ray, 8000),
        "mlflow": (_pod_labels(docs, "Deployment", "tierlab-mlflow"), 5000),
        "chroma": (_pod_labels(docs, "StatefulSet", "tierlab-chroma"), 8000),
    }
    for src in (notebook, hub_user):
        for name, (labels, port) in targets.items():
            assert _admits(policies, src, labels, port), name
    for src in (stranger, neighbour):
        for name, (labels, port) in targets.items():
            assert not _admits(policies, src, labels, port), name
    postgres = _pod_labels(docs, "StatefulSet", "tierlab-postgres")
    assert not _admits(policies, notebook, postgres, 5432)
    assert _admits(policies, mlflow, postgres, 5432)
    assert not _admits(policies, notebook, ray, 6379)  # GCS stays internal
    assert not _admits(policies, notebook, _pod_labels(docs, "Deployment", "tierlab-jupyterlab"), 8888)
    assert _admits(policies, operator, ray, 8265)
    assert _admits(policies, {"ns": "tierlab", "ns_labels": {}, "labels": ray}, ray, 6379)


# ------------------------------------------------------------------------------------------------ secrets


def test_secrets_example_has_placeholders_for_every_referenced_secret(rendered):
    example = [d for d in yaml.safe_load_all((k8s.K8S_DIR / "secrets.example.yaml").read_text()) if d]
    assert k8s.validate_schemas(example) == []
    defined = {}
    for secret in example:
        assert secret["kind"] == "Secret"
        for key, value in secret["stringData"].items():
            assert value.startswith("<") and value.endswith(">"), (
                f"{secret['metadata']['name']}.{key} is not a placeholder"
            )
        defined[secret["metadata"]["name"]] = set(secret["stringData"])

    def refs(node):
        if isinstance(node, dict):
            if "secretKeyRef" in node:
                yield node["secretKeyRef"]["name"], node["secretKeyRef"]["key"]
            if "secretRef" in node:
                yield node["secretRef"]["name"], None
            if "secret" in node and "secretName" in node["secret"]:
                for item in node["secret"].get("items", []):
                    yield node["secret"]["secretName"], item["key"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    used = {ref for docs in rendered.values() for ref in refs(docs)}
    assert {name for name, _ in used} >= {"tierlab-postgres", "tierlab-hf-token"}
    for name, key in used:
        assert name in defined, f"secret {name} is referenced but missing from secrets.example.yaml"
        assert key is None or key in defined[name], f"{name}.{key} missing from secrets.example.yaml"


def test_catalog_example_points_at_the_gpu_service(rendered):
    from toolkit.providers import load_catalog

    entry = load_catalog(k8s.K8S_DIR / "catalog.example.yaml").entry("mycluster/llama-3.1-8b-instruct")
    assert entry.resolved_base_url().startswith("http://tierlab-llm-serve-svc.tierlab.svc:8000/")
    args = yaml.safe_load(_one(rendered["gpu"], "RayService")["spec"]["serveConfigV2"])["applications"][0][
        "args"
    ]
    assert (
        entry.price.usd_per_hour
        == args["ingress_cls_config"]["ingress_extra_kwargs"]["usd_per_hour"][entry.model]
    )


# ------------------------------------------------------------------------------------------------- checkov


def test_checkov_passes_every_overlay(rendered):
    for name, docs in rendered.items():
        assert k8s.run_checkov(docs) == [], name


def test_checkov_catches_a_privileged_pod():
    bad = yaml.safe_load(
        """
apiVersion: apps/v1
kind: Deployment
metadata: {name: bad, namespace: tierlab}
spec:
  selector: {matchLabels: {app: bad}}
  template:
    metadata: {labels: {app: bad}}
    spec:
      hostNetwork: true
      containers:
        - name: bad
          image: busybox:1.36
          securityContext: {privileged: true}
"""
    )
    found = "\n".join(k8s.run_checkov([bad]))
    assert "CKV_K8S_16" in found  # privileged
    assert "CKV_K8S_19" in found  # hostNetwork


def test_whole_tree_validates_without_checkov():
    assert k8s.validate(checkov=False) == []


def test_no_literal_secret_values_committed():
    token = re.compile(r"\b(hf_|gsk_|sk-|AKIA)[A-Za-z0-9]{16,}")
    for path in Path(k8s.K8S_DIR).rglob("*"):
        if path.is_file():
            assert not token.search(path.read_text()), f"{path} contains what looks like a real key"
