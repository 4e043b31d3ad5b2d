"""End to end against a real `mlflow server` on 127.0.0.1 (started here, stopped by PID) and the real local model:
a tiny experiment (2 questions x closed_book + cove_joint) logged as one parent run and one child run per arm, with
metrics and CIs, the per-question table, traces, plots and the summary; then pulled back into pandas."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _free_port(low: int = 5000, high: int = 5049) -> int:
    for port in range(low, high):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port in 5000-5049")


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = open(root / "server.log", "wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", str(root / "artifacts")],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, (root / "server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "mlflow server not up after 180 s"
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_experiment_logged_to_a_real_mlflow_server(mlflow_server, local_llm_url, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from toolkit import tracking
    from toolkit.experiments.runner import run_experiment
    from toolkit.experiments.spec import parse_spec

    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TIERLAB_QUOTA_DIR", str(tmp_path / "home" / "quota"))
    spec = parse_spec(f"""
name: tracking-e2e
sample_size: 2
kinds: [short]
seed: 0
providers:
  - id: local/smollm2-135m-instruct
    base_url: {local_llm_url}
    params: {{temperature: 0, max_tokens: 24}}
methods:
  - closed_book
  - name: cove_joint
    options: {{max_verification_questions: 2}}
concurrency: 2
""")
    result = run_experiment(spec, progress=False, tracking_uri=mlflow_server)
    assert not result.errors, result.errors
    assert len(result.records) == 4 and result.network_calls >= 4
    assert all(r.answer.text for r in result.records)

    client = MlflowClient(tracking_uri=mlflow_server)
    parent = client.get_run(result.mlflow_run_id)
    assert parent.data.params["spec_hash"] == spec.spec_hash()
    assert parent.data.params["methods"] == "['closed_book', 'cove_joint']"
    assert "catalog_version" in parent.data.params and parent.data.metrics["answers"] == 4
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"spec.yaml", "summary.md", "questions.json", "plots"} <= artifacts
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert plots == {"plots/accuracy_vs_cost.png", "plots/hallucination_by_method.png"}
    summary = Path(client.download_artifacts(parent.info.run_id, "summary.md", str(tmp_path))).read_text()
    assert "| local/smollm2-135m-instruct | closed_book | 2/2 |" in summary

    arms = tracking.load_runs("tracking-e2e", tracking_uri=mlflow_server, parent_run_id=parent.info.run_id)
    assert sorted(arms["tags.tierlab.arm"]) == sorted(a.arm for a in result.arms)
    for _, row in arms.iterrows():
        assert row["metrics.accuracy_ci_low"] <= row["metrics.accuracy"] <= row["metrics.accuracy_ci_high"]
        assert row["metrics.answered"] == 2 and row["metrics.network_calls"] >= 2
        assert row["params.provider"] == "local/smollm2-135m-instruct"
        assert "questions.json" in {a.path for a in client.list_artifacts(row["run_id"])}
        traces = tracking.search_traces(row["run_id"], tracking_uri=mlflow_server)
        assert len(traces) == 2
    cove_run = arms[arms["tags.tierlab.arm"].str.endswith("cove_joint")].iloc[0]["run_id"]
    spans = tracking.search_traces(cove_run, tracking_uri=mlflow_server)[0].data.spans
    assert {s.name for s in spans} >= {"baseline"} and len(spans) >= 3  # root + baseline + verification steps

    # no secret ever reaches MLflow: params are filtered, and nothing key-like is in the logged tables
    assert not any("key" in k.lower() and v not in ("***", "") for k, v in parent.data.params.items())

    # replaying the finished experiment: zero model calls, same parent run (not logged twice)
    replay = run_experiment(spec, progress=False, tracking_uri=mlflow_server)
    assert replay.network_calls == 0 and replay.mlflow_run_id == result.mlflow_run_id
    parents = tracking.load_runs("tracking-e2e", tracking_uri=mlflow_server, kind="experiment")
    assert len(parents) == 1
