"""`tierlab k8s render|validate` machinery: yamllint, kustomize, strict schemas and CRDs, rendering, pod hygiene,
checkov; each validator is shown to catch what it claims to."""

from __future__ import annotations

import copy
import shutil

import pytest
import yaml
from k8s_support import K8S_DIR, OVERLAYS, cluster, one, rendered
from typer.testing import CliRunner

from toolkit.k8s import checkov, hygiene, render, schemas, validate
from toolkit.k8s.manifests import K8sError, crd_dir, kustomize


def test_yamllint_clean_and_catches_a_bad_file(tmp_path):
    assert schemas.lint_yaml() == []
    (tmp_path / "bad.yaml").write_text("a: 1\na: 2\nb:   [1,2]   \n")
    problems = schemas.lint_yaml(tmp_path)
    assert any("duplication of key" in p for p in problems) and any("trailing-spaces" in p for p in problems)


def test_a_broken_overlay_is_reported(tmp_path):
    tree = tmp_path / "k8s"
    shutil.copytree(K8S_DIR, tree)
    patch = tree / "overlays" / "gpu" / "gpu-workers.yaml"
    patch.write_text(
        patch.read_text().replace("/workerGroupSpecs/0/groupName", "/workerGroupSpecz/0/groupName")
    )
    with pytest.raises(K8sError, match="kubectl kustomize .*gpu failed"):
        kustomize(tree / "overlays" / "gpu")


# ------------------------------------------------------------------------------------------------ schemas


def test_every_overlay_passes_core_and_crd_schemas():
    for name in OVERLAYS:
        assert schemas.validate_schemas(rendered(name)) == [], name


def test_schema_errors_are_all_reported():
    docs = rendered("gpu")
    dep = one(docs, "Deployment", "tierlab-mlflow")
    dep["spec"]["replica"] = 2
    dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    rs = one(docs, "RayService")
    group = rs["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]
    group["maxReplica"] = 3
    group["minReplicas"] = "one"
    rs["metadata"]["labelz"] = {}
    rs["spec"]["rayClusterConfig"]["authOptions"]["mode"] = "tokens"
    problems = schemas.validate_schemas([dep, rs])
    assert any("Deployment/tierlab-mlflow: spec:" in p and "'replica' was unexpected" in p for p in problems)
    assert any("containerPort: 'http' is not of type 'integer'" in p for p in problems)
    assert any("workerGroupSpecs.0:" in p and "'maxReplica' was unexpected" in p for p in problems)
    assert any("minReplicas: 'one' is not of type 'integer'" in p for p in problems)
    assert any("metadata:" in p and "'labelz' was unexpected" in p for p in problems)
    assert any("authOptions.mode: 'tokens' is not one of ['disabled', 'token']" in p for p in problems)
    assert len(problems) == 6


def test_unknown_kinds_fail_instead_of_passing():
    docs = [
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
        {"apiVersion": "v1", "kind": "Affinity", "metadata": {"name": "a"}},  # a schema file, but not a kind
        {"metadata": {"name": "no-kind"}},
    ]
    problems = schemas.validate_schemas(docs)
    assert any("no schema for kind Widget" in p for p in problems)
    assert any("no schema for kind Affinity" in p for p in problems)
    assert any("missing kind or apiVersion" in p for p in problems)


def test_fields_with_cel_rules_cannot_pass_offline():
    rs = one(rendered("gpu"), "RayService")
    rs["spec"]["rayClusterConfig"]["managedBy"] = "ray.io/kuberay-operator"
    assert any("CEL rules that cannot be checked offline" in p for p in schemas.validate_schemas([rs]))


def test_crd_dir_override(monkeypatch, tmp_path):
    monkeypatch.setenv("TIERLAB_CRD_DIR", str(tmp_path))
    with pytest.raises(K8sError, match="TIERLAB_CRD_DIR"):
        crd_dir()


def test_strict_crd_schema_keeps_open_maps_open():
    strict = schemas._strict(
        {
            "type": "object",
            "properties": {"labels": {"type": "object", "additionalProperties": {"type": "string"}}},
        }
    )
    assert strict["additionalProperties"] is False
    assert strict["properties"]["labels"]["additionalProperties"] == {"type": "string"}
    loose = schemas._strict(
        {"type": "object", "properties": {}, "x-kubernetes-preserve-unknown-fields": True}
    )
    assert "additionalProperties" not in loose


# ------------------------------------------------------------------------------------------------- render


def test_committed_manifests_match_rendering():
    assert render.render(check=True) == [], "run `tierlab k8s render` and commit the result"


def test_rendered_serve_config_is_serving_config_output():
    from serving.config import serve_config

    for name, path in OVERLAYS.items():
        spec = render.load_render_spec(path)
        expected = serve_config(spec.profiles, app_name="tierlab-llm", env=spec.env)
        assert yaml.safe_load(one(rendered(name), "RayService")["spec"]["serveConfigV2"]) == expected, name


def test_render_detects_and_repairs_hand_edits(tmp_path):
    tree = tmp_path / "k8s"
    shutil.copytree(K8S_DIR, tree)
    target = tree / "overlays" / "gpu" / render.RENDERED
    target.write_text(target.read_text().replace("max_replicas: 4", "max_replicas: 8"))
    assert render.render(tree, check=True) == [target]
    assert render.render(tree) == [target]
    assert render.render(tree, check=True) == []
    assert "max_replicas: 4" in target.read_text()


def test_a_model_change_rolls_out_on_a_new_cluster_and_a_scaling_change_in_place():
    """The rendered `tierlab.io/models` annotation is part of rayClusterConfig (blue/green on change)."""
    base = yaml.safe_load(one(rendered("gpu"), "RayService")["spec"]["serveConfigV2"])
    digest = render.models_digest(base)
    assert (
        cluster(rendered("gpu"))["headGroupSpec"]["template"]["metadata"]["annotations"][
            render.MODELS_ANNOTATION
        ]
        == digest
    )
    scaled = copy.deepcopy(base)
    scaled["applications"][0]["args"]["llm_configs"][0]["deployment_config"]["autoscaling_config"][
        "max_replicas"
    ] = 3
    assert render.models_digest(scaled) == digest
    for key, value in [
        ("engine_kwargs", {"max_model_len": 4096}),
        ("model_loading_config", {"model_id": "x"}),
    ]:
        changed = copy.deepcopy(base)
        changed["applications"][0]["args"]["llm_configs"][0][key] = value
        assert render.models_digest(changed) != digest, key


def test_bad_or_missing_render_spec_is_a_clear_error(tmp_path):
    (tmp_path / render.RENDER_SPEC).write_text("profiles: [gpu-llama-3.1-8b-instruc]\nvllm: 0.29.0\n")
    with pytest.raises(K8sError, match="Did you mean 'gpu-llama-3.1-8b-instruct'"):
        render.render_overlay(tmp_path)
    (tmp_path / render.RENDER_SPEC).write_text("profiles: [cpu-smollm2]\n")
    with pytest.raises(K8sError, match="is invalid.*vllm"):
        render.render_overlay(tmp_path)
    (tmp_path / render.RENDER_SPEC).unlink()
    with pytest.raises(K8sError, match="has no render.yaml"):
        render.render_overlay(tmp_path)


def test_an_overlay_without_render_spec_fails_validation(tmp_path):
    tree = tmp_path / "k8s"
    shutil.copytree(K8S_DIR, tree)
    (tree / "overlays" / "cpu-dev" / render.RENDER_SPEC).unlink()
    problems = validate.validate(tree, checkov=False)
    assert sum("cpu-dev has no render.yaml" in p for p in problems) == 2, problems  # render check + overlay


def test_cli_render_check():
    from toolkit.cli import app

    result = CliRunner().invoke(app, ["k8s", "render", "--check"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output


# ------------------------------------------------------------------------------------------------ hygiene


def test_hygiene_clean():
    for name in OVERLAYS:
        assert hygiene.check_hygiene(rendered(name)) == [], name


def test_hygiene_catches_unsafe_pods():
    docs = rendered("gpu")
    mlflow = one(docs, "Deployment", "tierlab-mlflow")["spec"]["template"]
    container = mlflow["spec"]["containers"][0]
    del container["resources"]["limits"]
    del container["resources"]["requests"]["ephemeral-storage"]
    del container["readinessProbe"]
    container["securityContext"] = {"privileged": True}
    container["image"] = "ghcr.io/tierlab/mlflow:latest"
    container["env"].append({"name": "GROQ_API_KEY", "value": "gsk_not_a_real_key"})
    del mlflow["metadata"]["labels"]["app.kubernetes.io/part-of"]
    mlflow["spec"]["automountServiceAccountToken"] = True
    spec = cluster(docs)
    worker = spec["workerGroupSpecs"][0]["template"]["spec"]
    worker["securityContext"]["runAsNonRoot"] = False
    worker["containers"][0]["volumeMounts"].append({"name": "dshm", "mountPath": "/dev/shm"})
    head = spec["headGroupSpec"]["template"]["spec"]
    head["containers"][0]["volumeMounts"][0]["name"] = "ray-tmp"
    del spec["autoscalerOptions"]["volumeMounts"]
    docs = [d for d in docs if d["metadata"]["name"] not in ("default-deny-ingress", "tierlab-postgres")]
    docs.append(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "leak"}, "stringData": {"k": "v"}}
    )
    docs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tierlab"}})
    docs.append(yaml.safe_load((K8S_DIR / "base" / "postgres.yaml").read_text().split("---")[-1]))
    problems = "\n".join(hygiene.check_hygiene(docs))
    for expected in [
        "tierlab-mlflow template container mlflow: no resources.limits for cpu, memory",
        "container mlflow: privileged",
        "container mlflow: allowPrivilegeEscalation must be false",
        "container mlflow: capabilities must drop ALL",
        "container mlflow: readOnlyRootFilesystem must be true",
        "container mlflow: no readinessProbe",
        "has no fixed tag",
        "env GROQ_API_KEY holds a literal value",
        "container mlflow: writes to emptyDir ['tmp'] but requests no ephemeral-storage",
        "Deployment/tierlab-mlflow template: pod template has no app.kubernetes.io/part-of label",
        "Deployment/tierlab-mlflow template: automountServiceAccountToken must be false",
        "worker group gpu-l4 container ray-worker: runAsNonRoot must be true",
        "worker group gpu-l4: Ray container mounts its own /dev/shm",
        "head: the /tmp/ray volume must be named 'ray-logs'",
        "the autoscaler needs a projected serviceAccountToken volume",
        "Secret/leak: Secrets must not be part of the manifests",
        "Namespace/tierlab: a Namespace must not be part of an overlay",
        "StatefulSet/tierlab-postgres: no PodDisruptionBudget selects its pods",
        "no default-deny ingress NetworkPolicy",
    ]:
        assert expected in problems, expected


# ------------------------------------------------------------------------------------------------ checkov


def test_checkov_passes_every_overlay():
    for name in OVERLAYS:
        assert checkov.run_checkov(rendered(name)) == [], name


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
    found = "\n".join(checkov.run_checkov([bad]))
    assert "CKV_K8S_16" in found and "CKV_K8S_19" in found  # privileged, hostNetwork


def test_missing_checkov_is_an_error_naming_the_install_step_not_an_install(monkeypatch, tmp_path):
    monkeypatch.setenv("TIERLAB_CHECKOV", str(tmp_path / "nowhere" / "checkov"))
    with pytest.raises(K8sError, match=r"make \.venv-checkov/\.installed"):
        checkov.run_checkov([])
    assert not (tmp_path / "nowhere").exists()


def test_the_optional_components_validate_in_the_gpu_overlay(tmp_path):
    """The commented-out components of the gpu overlay (JupyterLab, GCS fault tolerance) render and validate."""
    tree = tmp_path / "k8s"
    shutil.copytree(K8S_DIR, tree)
    kustomization = tree / "overlays" / "gpu" / "kustomization.yaml"
    kustomization.write_text(
        kustomization.read_text().replace("# components:", "components:").replace("#   - ", "  - ")
    )
    docs = kustomize(tree / "overlays" / "gpu")
    ft = cluster(docs)["gcsFaultToleranceOptions"]
    assert ft["redisPassword"]["valueFrom"]["secretKeyRef"] == {"name": "tierlab-redis", "key": "password"}
    assert ("Deployment", "tierlab-jupyterlab") in {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert schemas.validate_schemas(docs) == [] and hygiene.check_hygiene(docs) == []


def test_whole_tree_validates_without_checkov():
    assert validate.validate(checkov=False) == []
