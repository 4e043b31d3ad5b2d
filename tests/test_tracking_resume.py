"""MLflow logging that a crash, a deleted run or a quota stop cannot leave wrong (issue 29, cases 2 and 7).

Against a real ``mlflow server`` on 127.0.0.1 (conftest's ``mlflow_server``): a ``tierlab run`` killed with
``kill -9`` while it logs leaves its parent RUNNING, and the next run must finish the logging (one FINISHED parent
with its arm runs and artifacts), not adopt the half-logged parent; a parent deleted in MLflow is logged afresh;
every resume after a quota stop leaves exactly one current parent per run folder.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from servers import ChatServer

from toolkit.experiments.spec import parse_spec

SPEC = """\
name: {name}
sample_size: 6
kinds: [short]
seed: 1
concurrency: 2
providers:
  - id: groq/llama-3.1-8b-instant
    emulate: true
    emulator_backend: echo
    params: {{temperature: 0, max_tokens: 24}}
methods:
  - closed_book
  - name: cove_joint
    options: {{max_verification_questions: 2}}
"""


CRASH_WHILE_LOGGING = """
import os, signal, sys
from toolkit.tracking import tables
from toolkit.cli import app
tables.log_arm_table = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)  # kill -9 mid-logging
sys.argv[0] = "tierlab"
app()
"""


def _cli(spec: Path, home: Path, uri: str, crash: bool = False) -> subprocess.Popen:
    """``tierlab run``; with ``crash``, the process kills itself (SIGKILL) when it logs its first arm's table, i.e.
    after the parent run and the first arm run exist and before anything is finished."""
    env = {**os.environ, "TIERLAB_HOME": str(home), "GROQ_API_KEY": "gsk_fake_for_tests_only_0123456789"}
    command = [sys.executable, "-c", CRASH_WHILE_LOGGING] if crash else [str(Path(sys.executable).parent / "tierlab")]
    return subprocess.Popen([*command, "run", str(spec), "--quiet", "--tracking-uri", uri], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _parents(client, name: str, run_key: str) -> list:
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id],
                              f"tags.`tierlab.kind` = 'experiment' and tags.`tierlab.run_key` = '{run_key}'")


def _current(parents: list) -> list:
    return [p for p in parents if "tierlab.superseded_by" not in p.data.tags]


def _check_complete(client, parent, arms: int) -> None:
    assert parent.info.status == "FINISHED"
    children = client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert len(children) == arms and all(c.info.status in ("FINISHED", "KILLED") for c in children)
    assert all("questions.json" in {a.path for a in client.list_artifacts(c.info.run_id)} for c in children)
    assert {"summary.md", "spec.yaml"} <= {a.path for a in client.list_artifacts(parent.info.run_id)}


def test_a_crash_while_logging_is_repaired_and_a_deleted_run_is_logged_afresh(mlflow_server, tmp_path):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server)
    home, name = tmp_path / "home", "resume-crash"
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(SPEC.format(name=name), encoding="utf-8")
    run_key = parse_spec(spec_path.read_text()).run_key()

    first = _cli(spec_path, home, mlflow_server, crash=True)
    first.communicate(timeout=300)
    assert first.returncode == -9
    (crashed,) = _parents(client, name, run_key)
    assert crashed.info.status == "RUNNING"  # what the crash left

    second = _cli(spec_path, home, mlflow_server)
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err[-3000:]
    (parent,) = _parents(client, name, run_key)  # the half-logged parent is not kept beside the repaired one
    _check_complete(client, parent, arms=2)
    tracked = json.loads((home / "runs" / run_key / "tracked.json").read_text())
    assert tracked["run_id"] == parent.info.run_id and f"MLflow parent run: {parent.info.run_id}" in out

    client.delete_run(parent.info.run_id)  # someone tidies MLflow up
    third = _cli(spec_path, home, mlflow_server)
    out, err = third.communicate(timeout=300)
    assert third.returncode == 0, err[-3000:]
    (fresh,) = _parents(client, name, run_key)
    assert fresh.info.run_id != parent.info.run_id and "deleted" in err
    _check_complete(client, fresh, arms=2)
    assert f"MLflow parent run: {fresh.info.run_id}" in out


def test_each_resume_after_a_quota_stop_leaves_one_current_parent(mlflow_server, tmp_path, monkeypatch):
    """A daily quota of 3 requests (a "day" of 8.64 s): each invocation answers what the quota allows and stops;
    the next one, after the reset, continues. Every earlier parent is superseded by the newest one."""
    from mlflow import MlflowClient

    from toolkit.experiments.runner import run_experiment
    from toolkit.tracking import mlflow_logger

    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "home"))
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("providers:\n  local:\n    models:\n      smollm2-135m-instruct:\n        limits: "
                       "{rpd: 3, reset: rolling, time_scale: 10000}\n", encoding="utf-8")
    monkeypatch.setenv("TIERLAB_CATALOG", str(catalog))
    server = ChatServer()
    client = MlflowClient(tracking_uri=mlflow_server)
    try:
        spec = parse_spec(f"""
name: resume-quota
sample_size: 7
seed: 2
concurrency: 1
methods: [closed_book]
providers:
  - id: local/smollm2-135m-instruct
    base_url: {server.url}
    cache: false
""")
        answered = []
        for _ in range(3):
            result = run_experiment(spec, progress=False, log=mlflow_logger(mlflow_server))
            answered.append(len(result.records))
            assert result.arms[0].stopped is None or result.arms[0].stopped.startswith("quota")
            time.sleep(9)  # the quota's "day" passes
        assert answered == [3, 6, 7], answered
        parents = _parents(client, "resume-quota", spec.run_key())
        assert len(parents) == 3
        (current,) = _current(parents)
        assert current.info.run_id == result.mlflow_run_id and current.data.metrics["usage/answers"] == 7
        assert all(p.data.tags["tierlab.superseded_by"] == current.info.run_id for p in parents if p is not current)
    finally:
        server.close()
