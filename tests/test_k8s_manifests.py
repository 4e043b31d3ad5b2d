"""k8s/ manifests as rendered by the real `kubectl kustomize`: what each overlay deploys, who may reach what,
where secrets come from, and that data survives `kubectl delete -k`."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from k8s_support import K8S_DIR, OVERLAYS, cluster, one, rendered, serve_config

from toolkit.k8s.hygiene import SA_TOKEN_DIR
from toolkit.k8s.manifests import kustomize, pod_specs


def test_both_overlays_exist_and_render():
    assert set(OVERLAYS) == {"gpu", "cpu-dev"}
    for name in OVERLAYS:
        docs = rendered(name)
        kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
        assert {
            ("RayService", "tierlab-llm"),
            ("Deployment", "tierlab-mlflow"),
            ("StatefulSet", "tierlab-postgres"),
            ("StatefulSet", "tierlab-chroma"),
            ("CronJob", "tierlab-postgres-backup"),
            ("NetworkPolicy", "default-deny-ingress"),
        } <= kinds, name
        assert {d["metadata"].get("namespace") for d in docs} == {"tierlab"}, name
    assert ("Deployment", "tierlab-jupyterlab") in {
        (d["kind"], d["metadata"]["name"]) for d in rendered("cpu-dev")
    }


def test_data_outlives_the_overlays():
    """`kubectl delete -k overlays/X` must delete no namespace and no PVC; those live in k8s/data, and the
    StatefulSets' own claims are retained when the StatefulSets go."""
    for name in OVERLAYS:
        docs = rendered(name)
        assert not [d for d in docs if d["kind"] in ("Namespace", "PersistentVolumeClaim")], name
        for sts in (d for d in docs if d["kind"] == "StatefulSet"):
            assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {
                "whenDeleted": "Retain",
                "whenScaled": "Retain",
            }
    data = kustomize(K8S_DIR / "data")
    namespace = one(data, "Namespace", "tierlab")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    claimed = {
        v["persistentVolumeClaim"]["claimName"]
        for name in OVERLAYS
        for doc in rendered(name)
        for _, pod in pod_specs(doc)
        for v in pod.get("volumes") or []
        if "persistentVolumeClaim" in v
    }
    assert claimed == {d["metadata"]["name"] for d in data if d["kind"] == "PersistentVolumeClaim"}


def test_gpu_workers_declare_the_accelerator_resource_replicas_ask_for():
    docs = rendered("gpu")
    (group,) = cluster(docs)["workerGroupSpecs"]
    (llm,) = serve_config(docs)["applications"][0]["args"]["llm_configs"]
    assert group["resources"] == {f"accelerator_type:{llm['accelerator_type']}": "1"}
    assert (group["minReplicas"], group["maxReplicas"]) == (2, 4)
    scaling = llm["deployment_config"]["autoscaling_config"]
    assert scaling["min_replicas"] >= 2, "one replica means downtime on every in-place Serve update"
    worker = group["template"]["spec"]["containers"][0]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert worker["resources"]["requests"]["ephemeral-storage"]
    head = cluster(docs)["headGroupSpec"]
    assert head["rayStartParams"]["num-gpus"] == "0"
    assert "nvidia.com/gpu" not in head["template"]["spec"]["containers"][0]["resources"]["limits"]


def test_cpu_dev_overlay_has_no_gpus_and_the_baked_model():
    docs = rendered("cpu-dev")
    assert "nvidia.com/gpu" not in yaml.safe_dump_all(docs)
    (cfg,) = serve_config(docs)["applications"][0]["args"]["llm_configs"]
    assert cfg["model_loading_config"]["model_source"] == "/opt/tierlab/models/smollm2-135m-instruct"
    dockerfile = (K8S_DIR / "images" / "ray-cpu.Dockerfile").read_text()
    assert (
        "TIERLAB_MODELS=/opt/tierlab/models" in dockerfile
        and "models prepare smollm2-135m-instruct" in dockerfile
    )


def test_ray_pods_follow_kuberay_conventions():
    from serving.ingress import API_KEY_ENV  # the variable the ingress checks requests against

    for name in OVERLAYS:
        spec = cluster(rendered(name))
        assert spec["authOptions"] == {"mode": "token", "secretName": "tierlab-ray-auth"}
        head = spec["headGroupSpec"]["template"]
        pods = [head] + [g["template"] for g in spec["workerGroupSpecs"]]
        for pod in pods:
            assert pod["metadata"]["labels"]["app.kubernetes.io/part-of"] == "tierlab", name
            assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
            assert pod["spec"]["automountServiceAccountToken"] is False
            mounts = {m["mountPath"]: m["name"] for m in pod["spec"]["containers"][0]["volumeMounts"]}
            assert mounts["/tmp/ray"] == "ray-logs" and "/dev/shm" not in mounts
            env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
            assert env[API_KEY_ENV]["valueFrom"]["secretKeyRef"] == {
                "name": "tierlab-serve-api-key",
                "key": "api-key",
            }
            assert not {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN"} & set(env), (
                "KubeRay skips injection if set by hand"
            )
        token_volume = next(v for v in head["spec"]["volumes"] if v["name"] == "kube-api-access")
        assert any("serviceAccountToken" in s for s in token_volume["projected"]["sources"])
        assert {"name": "kube-api-access", "mountPath": SA_TOKEN_DIR, "readOnly": True} in spec[
            "autoscalerOptions"
        ]["volumeMounts"]


def test_every_stateful_service_and_the_head_have_a_disruption_budget():
    docs = rendered("cpu-dev")
    budgets = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "PodDisruptionBudget"}
    assert {"tierlab-ray-head", "tierlab-mlflow", "tierlab-chroma", "tierlab-postgres"} <= set(budgets)
    head_labels = cluster(docs)["headGroupSpec"]["template"]["metadata"]["labels"]
    worker_labels = cluster(docs)["workerGroupSpecs"][0]["template"]["metadata"]["labels"]
    selector = budgets["tierlab-ray-head"]["selector"]["matchLabels"]
    assert selector.items() <= head_labels.items() and not selector.items() <= worker_labels.items()


def test_backup_cronjob_dumps_both_databases_to_its_own_volume():
    docs = rendered("gpu")
    job = one(docs, "CronJob", "tierlab-postgres-backup")["spec"]
    pod = job["jobTemplate"]["spec"]["template"]["spec"]
    script = pod["containers"][0]["command"][-1]
    assert "pg_dump --format=custom" in script and "for db in mlflow mlflow_auth" in script
    assert {"name": "backups", "persistentVolumeClaim": {"claimName": "tierlab-postgres-backups"}} in pod[
        "volumes"
    ]
    init = one(docs, "ConfigMap", "tierlab-postgres-init")["data"]["10-mlflow-auth.sql"]
    assert "CREATE DATABASE mlflow_auth" in init
    assert "mlflow_auth" in one(docs, "ConfigMap", "tierlab-mlflow-auth")["data"]["basic_auth.ini"]


def test_mlflow_and_chroma_require_credentials():
    docs = rendered("cpu-dev")
    mlflow = one(docs, "Deployment", "tierlab-mlflow")["spec"]["template"]["spec"]["containers"][0]
    assert "--app-name=basic-auth" in mlflow["args"]
    chroma = one(docs, "StatefulSet", "tierlab-chroma")["spec"]["template"]["spec"]["containers"]
    server, proxy = chroma
    assert server["args"][server["args"].index("--host") + 1] == "127.0.0.1", (
        "only the proxy may reach chroma"
    )
    assert proxy["ports"] == [{"name": "http", "containerPort": 8000}]
    jupyter = one(docs, "Deployment", "tierlab-jupyterlab")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in jupyter["env"]}
    assert env["CHROMA_CLIENT_AUTH_PROVIDER"]["value"] == "chromadb.auth.token_authn.TokenAuthClientProvider"
    for var, secret in [
        ("MLFLOW_TRACKING_USERNAME", "tierlab-mlflow-user"),
        ("MLFLOW_TRACKING_PASSWORD", "tierlab-mlflow-user"),
        ("CHROMA_CLIENT_AUTH_CREDENTIALS", "tierlab-chroma-token"),
        ("TIERLAB_SERVE_API_KEY", "tierlab-serve-api-key"),
    ]:
        assert env[var]["valueFrom"]["secretKeyRef"]["name"] == secret


def test_secrets_example_has_placeholders_for_every_referenced_secret():
    example = [d for d in yaml.safe_load_all((K8S_DIR / "secrets.example.yaml").read_text()) if d]
    defined = {}
    for secret in example:
        for key, value in secret["stringData"].items():
            assert value.startswith("<") and value.endswith(">"), f"{secret['metadata']['name']}.{key}"
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

    used = {ref for name in OVERLAYS for ref in refs(rendered(name))}
    used |= {(cluster(rendered(name))["authOptions"]["secretName"], "auth_token") for name in OVERLAYS}
    assert {name for name, _ in used} >= {"tierlab-postgres", "tierlab-hf-token", "tierlab-ray-auth"}
    for name, key in used:
        assert name in defined, f"secret {name} is referenced but missing from secrets.example.yaml"
        assert key is None or key in defined[name], f"{name}.{key} missing from secrets.example.yaml"


def test_catalog_example_points_at_the_gpu_service_with_its_key():
    from toolkit.providers import load_catalog

    entry = load_catalog(K8S_DIR / "catalog.example.yaml").entry("mycluster/llama-3.1-8b-instruct")
    assert entry.resolved_base_url().startswith("http://tierlab-llm-serve-svc.tierlab.svc:8000/")
    assert entry.key_env == "TIERLAB_SERVE_API_KEY"
    args = serve_config(rendered("gpu"))["applications"][0]["args"]
    assert (
        entry.price.usd_per_hour
        == args["ingress_cls_config"]["ingress_extra_kwargs"]["usd_per_hour"][entry.model]
    )


def test_no_literal_secret_values_committed():
    token = re.compile(r"\b(hf_|gsk_|sk-|AKIA)[A-Za-z0-9]{16,}")
    for path in Path(K8S_DIR).rglob("*"):
        if path.is_file():
            assert not token.search(path.read_text()), f"{path} contains what looks like a real key"
