"""A run's state on disk: one runner per run folder (two real processes), a dataset's content in the run's
identity, and an answer store that never drops a record silently.

The model is the counting OpenAI-compatible server of test_experiments_runner (real HTTP on 127.0.0.1): what the
model says does not matter here, how many times it is asked does.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_experiments_runner import CountingServer, spec_text

from toolkit.experiments.spec import parse_spec
from toolkit.experiments.store import SCHEMA_VERSION, AnswerRecord, Store, StoreError


@pytest.fixture()
def server():
    srv = CountingServer()
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "home"))


def _tierlab_run(spec: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "tierlab"), "run", str(spec), "--quiet", "--no-track"],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_second_run_of_the_same_spec_stops_and_nothing_is_paid_twice(server, tmp_path):
    server.delay_s = 5.0  # slow answers keep the first run busy (~40 s) until the second one has given up
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(spec_text(server.url, methods="[closed_book]", sample=8, concurrency=1))
    answers = tmp_path / "home" / "runs" / parse_spec(spec_path.read_text()).run_key() / "answers.jsonl"
    first = _tierlab_run(spec_path)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not answers.exists():  # the first runner holds the lock by now
            assert first.poll() is None, first.stderr.read()
            time.sleep(0.05)
        second = _tierlab_run(spec_path)
        out, err = second.communicate(timeout=120)
        server.delay_s = 0.0
        assert first.poll() is None, "the first run should still be running when the second one gives up"
        assert second.returncode == 2, err
        assert "in use by another TierLab run (pid" in err and "Traceback" not in err, err
        assert first.wait(timeout=120) == 0, first.stderr.read()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert server.repeated() == 0 and server.total() == 8
    assert len(answers.read_text().splitlines()) == 8


def test_editing_a_dataset_file_starts_a_new_run_instead_of_mixing_answers(server, tmp_path):
    from toolkit.experiments.runner import run_experiment

    data = tmp_path / "qa.jsonl"
    rows = [{"id": f"q{i}", "question": f"What is {i} + {i}?", "answers": [str(2 * i)]} for i in range(3)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    text = spec_text(server.url, methods="[closed_book]", sample=3) + f"dataset: jsonl:{data}\nsplit: all\n"
    first = run_experiment(parse_spec(text), progress=False)

    rows[1]["question"] = "What is the capital of Peru?"  # same id, new question
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    second = run_experiment(parse_spec(text), progress=False)
    assert second.run_key != first.run_key
    asked = {r.question.id: r.question.question for r in second.records}
    assert asked["q1"] == "What is the capital of Peru?"
    assert second.network_calls == 3


def _line(arm: str, qid: str) -> str:
    from toolkit.judges.base import Verdict
    from toolkit.records import Answer, Question

    record = AnswerRecord(
        arm=arm,
        provider="p",
        method="m",
        question=Question(id=qid, question="Q?", kind="short", answers=("a",)),
        answer=Answer(text="a", method="m"),
        latency_s=0.1,
        verdict=Verdict(judge="rules", hallucinated=False, reason="ok"),
    )
    return record.model_dump_json()


def test_store_skips_a_torn_last_line_with_a_warning_and_sets_it_aside(tmp_path):
    store = Store(tmp_path)
    store.path.write_text(_line("a", "q1") + "\n" + _line("a", "q2")[:40], encoding="utf-8")
    with pytest.warns(UserWarning, match=r"answers.jsonl:2: skipping a torn last line"):
        assert list(store.records()) == [("a", "q1")]
    store.set_aside_torn_tail()
    assert (tmp_path / "answers.torn").read_text().startswith(_line("a", "q2")[:40])
    store.append(AnswerRecord.model_validate_json(_line("a", "q3")))
    assert list(store.records()) == [("a", "q1"), ("a", "q3")]


@pytest.mark.parametrize(
    "bad, problem",
    [
        ("{not json", "unreadable answer record"),
        (json.dumps({**json.loads(_line("a", "q2")), "latency_s": "slow"}), "unreadable answer record"),
        (json.dumps({**json.loads(_line("a", "q2")), "schema_version": SCHEMA_VERSION + 1}), "newer than"),
    ],
    ids=["not JSON", "invalid field", "newer schema"],
)
def test_store_refuses_any_other_unreadable_line_naming_file_and_line(tmp_path, bad, problem):
    store = Store(tmp_path)
    store.path.write_text("\n".join([_line("a", "q1"), bad, _line("a", "q3")]) + "\n", encoding="utf-8")
    with pytest.raises(StoreError, match=rf"answers.jsonl:2: .*{problem}"):
        store.records()


def test_records_carry_a_schema_version_and_old_lines_read_as_version_1(tmp_path):
    store = Store(tmp_path)
    old = json.loads(_line("a", "q1"))
    del old["schema_version"]
    store.path.write_text(json.dumps(old) + "\n" + _line("a", "q2") + "\n", encoding="utf-8")
    versions = {k: r.schema_version for k, r in store.records().items()}
    assert versions == {("a", "q1"): 1, ("a", "q2"): SCHEMA_VERSION}
    assert json.loads(_line("a", "q3"))["schema_version"] == SCHEMA_VERSION == 3


def test_a_resumed_run_supersedes_its_earlier_mlflow_parent(server, tmp_path):
    """One current parent per run folder: the parent logged by the interrupted run is tagged superseded, with its
    arms, by the parent of the run that continued it (real MLflow, SQLite store)."""
    import threading

    from mlflow import MlflowClient

    from toolkit.experiments.runner import run_experiment
    from toolkit.tracking import mlflow_logger

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = parse_spec(spec_text(server.url, methods="[closed_book]", concurrency=1))
    cancel = threading.Event()
    first = run_experiment(
        spec, progress=False, log=mlflow_logger(uri), cancel=cancel, on_answer=lambda r: cancel.set()
    )
    second = run_experiment(spec, progress=False, log=mlflow_logger(uri))
    assert (
        len(first.records) == 1 and len(second.records) == 4 and first.mlflow_run_id != second.mlflow_run_id
    )

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(spec.name).experiment_id
    runs = client.search_runs([experiment], filter_string=f"tags.`tierlab.run_key` = '{spec.run_key()}'")
    current = [r for r in runs if "tierlab.superseded_by" not in r.data.tags]
    superseded = [r for r in runs if r.data.tags.get("tierlab.superseded_by") == second.mlflow_run_id]
    assert [r.info.run_id for r in current if r.data.tags["tierlab.kind"] == "experiment"] == [
        second.mlflow_run_id
    ]
    assert {r.data.tags["tierlab.kind"] for r in superseded} == {"experiment", "arm"}
    assert {r.info.run_id for r in superseded if r.data.tags["tierlab.kind"] == "experiment"} == {
        first.mlflow_run_id
    }
