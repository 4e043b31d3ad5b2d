"""Bad input that used to pass the load check (issue 29, cases 4-6): every one now stops `tierlab run` with rc 2,
one message naming the problem and the fix, and nothing written (no run folder, no MLflow database); names never
become paths outside TierLab's folders; dataset lines and fields have size limits.

Through the real CLI in a subprocess (helpers of ``test_run_errors``); the endpoints are real local servers.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from servers import ChatServer, free_port, refused_url
from test_run_errors import LOCAL, _left_behind, _run, _spec

from toolkit.experiments.spec import parse_spec


def _one_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("warning: ")]
    assert len(lines) == 1, done.stderr
    return lines[0]


SPEC_CASES = {
    "dataset without a path": ({"dataset": '"jsonl:"', "split": "all"}, ["dataset", "needs a path", "jsonl:/path"]),
    "dataset format typo": ({"dataset": "jsnl:/x.jsonl"}, ["dataset", "Did you mean 'jsonl'"]),
    "split that is a path": ({"split": "../../etc"}, ["split", "letters, digits"]),
    "emulator fault probability": (
        {"providers": "  - id: groq/llama-3.1-8b-instant\n    emulate: true\n    emulator_options: {faults: '5xx:2'}"},
        ["emulator_options", "probability must be in [0, 1]"],
    ),
    "unknown emulator option": (
        {"providers": "  - id: groq/llama-3.1-8b-instant\n    emulate: true\n    emulator_options: {lag: 3}"},
        ["emulator_options", "'lag'", "latency", "faults", "server_error"],
    ),
    "emulator options without emulate": (
        {"providers": LOCAL + "\n    emulator_options: {latency: '0.5'}"}, ["emulator_options", "emulate: true"],
    ),
    "retriever key typo": ({"extra": "retriever: {kk: 3}\n"}, ["retriever", "unknown key 'kk'"]),
    "retriever documents": ({"extra": "retriever: {documents: every}\n"}, ["retriever", "sample", "split", "all"]),
    "negative max_tokens": (
        {"providers": LOCAL + "\n    params: {max_tokens: -5}"}, ["params", "max_tokens", "greater than 0"],
    ),
    "max_tokens beyond the context window": (
        {"providers": LOCAL + "\n    params: {max_tokens: 100000}"}, ["params", "max_tokens", "context window"],
    ),
    "temperature out of range": ({"providers": LOCAL + "\n    params: {temperature: 7}"}, ["temperature"]),
}


@pytest.mark.parametrize("case", SPEC_CASES, ids=list(SPEC_CASES))
def test_every_spec_field_is_validated_at_load(tmp_path, case):
    fields, expected = SPEC_CASES[case]
    home = tmp_path / "home"
    message = _one_line(_run(_spec(tmp_path, "bad", **fields), home))
    for part in expected:
        assert part in message, message
    assert str(tmp_path / "bad.yaml") in message
    assert _left_behind(home) == []


def _dataset(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(row + "\n" for row in rows), encoding="utf-8")
    return path


def test_a_huge_dataset_line_is_refused_naming_the_line(tmp_path):
    ok = json.dumps({"id": "a", "question": "Capital of France?", "answers": ["Paris"]})
    huge = json.dumps({"id": "b", "question": "x" * 3_000_000, "answers": ["y"]})
    data = _dataset(tmp_path, [ok, huge])
    home = tmp_path / "home"
    message = _one_line(_run(_spec(tmp_path, "big", dataset=f"jsonl:{data}", split="all"), home))
    assert f"{data}, line 2" in message and "bytes" in message and "limit" in message, message
    assert _left_behind(home) == []


@pytest.mark.parametrize("field,value", [("question", "q" * 30_000), ("answers", ["a" * 5_000]),
                                          ("context", "c" * 600_000), ("id", "i" * 300)])
def test_an_oversized_field_is_refused_naming_line_and_field(tmp_path, field, value):
    row = {"id": "a", "question": "Capital of France?", "answers": ["Paris"]} | {field: value}
    data = _dataset(tmp_path, [json.dumps({"id": "z", "question": "Q?", "answers": ["A"]}), json.dumps(row)])
    home = tmp_path / "home"
    message = _one_line(_run(_spec(tmp_path, "field", dataset=f"jsonl:{data}", split="all"), home))
    assert f"{data}, line 2" in message and field in message and "characters" in message, message
    assert _left_behind(home) == []


def test_a_down_model_endpoint_is_one_message_before_anything_exists(tmp_path):
    home = tmp_path / "home"
    url = refused_url()
    spec = _spec(tmp_path, "down", providers=f"  - id: local/smollm2-135m-instruct\n    base_url: {url}")
    message = _one_line(_run(spec, home))
    assert url in message and "not reachable" in message and "base_url" in message, message
    assert _left_behind(home) == []


def test_a_down_mlflow_server_is_one_message_before_anything_exists(tmp_path):
    server = ChatServer()
    try:
        home = tmp_path / "home"
        spec = _spec(tmp_path, "nomlflow", providers=f"  - id: local/smollm2-135m-instruct\n    base_url: {server.url}")
        uri = f"http://127.0.0.1:{free_port()}"
        done = subprocess.run([str(Path(sys.executable).parent / "tierlab"), "run", str(spec), "--quiet",
                               "--tracking-uri", uri], env={**__import__("os").environ, "TIERLAB_HOME": str(home)},
                              capture_output=True, text=True, timeout=300)
        message = _one_line(done)
        assert uri in message and "MLflow" in message and "--no-track" in message, message
        assert _left_behind(home) == [] and server.total() == 0
    finally:
        server.close()


def test_a_spec_name_never_becomes_a_path_outside_tierlabs_folders(tmp_path, monkeypatch):
    """``name: ../../../escape`` once wrote MLflow artifacts to ``../../../escape/<run>/artifacts``."""
    from mlflow import MlflowClient

    from toolkit.experiments.runner import run_experiment
    from toolkit.tracking import mlflow_logger
    from toolkit.ui.grid import export

    home, store = tmp_path / "home", tmp_path / "a" / "b" / "c"
    store.mkdir(parents=True)
    monkeypatch.setenv("TIERLAB_HOME", str(home))
    server = ChatServer()
    try:
        spec = parse_spec(f"name: ../../../escape\nsample_size: 1\nmethods: [closed_book]\nproviders:\n"
                          f"  - id: local/smollm2-135m-instruct\n    base_url: {server.url}\n")
        result = run_experiment(spec, progress=False, log=mlflow_logger(f"sqlite:///{store / 'mlflow.db'}"))
        written = export(result, tmp_path / "exports")
    finally:
        server.close()
    experiment = MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}").get_experiment_by_name(spec.name)
    location = Path(experiment.artifact_location.removeprefix("file://")).resolve()
    assert location.is_relative_to(store / "mlartifacts"), location
    assert all(p.resolve().parent == (tmp_path / "exports").resolve() for p in written), written
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and not any(
        p.is_relative_to(root) for root in (home, store, tmp_path / "exports"))]
    assert outside == [], outside
