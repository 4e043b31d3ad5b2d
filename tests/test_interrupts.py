"""Ctrl-C, SIGTERM and the panel's Cancel stop a run at once and lose nothing (issue 29, case 1).

The run talks to a real emulator process (``running_emulator``) whose ``/tierlab/stats`` counts every request it
received, so "no call after the stop" is observed at the server, not inferred. Its text comes from the built-in
echo backend (fast loop) or, marked ``slow``, from the real SmolLM2 server behind it. The CLI runs in a subprocess
and receives a real signal; it must exit 130 after storing and printing what was answered, with the MLflow parent
marked KILLED.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from toolkit.experiments.spec import parse_spec
from toolkit.providers.emulator import running_emulator, stats

QUESTIONS = 12
SPEC = """\
name: interrupt-{name}
sample_size: {n}
seed: 3
concurrency: 2
methods: [{method}]
providers:
  - id: local/smollm2-135m-instruct
    base_url: {url}
    cache: false
    params: {{temperature: 0, max_tokens: 12}}
"""


def _wait_for(condition, timeout_s: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended before {what}: {proc.stderr.read()[-3000:]}")
        assert time.monotonic() < deadline, f"not {what} after {timeout_s:.0f} s"
        time.sleep(0.05)


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0


def _interrupt_cli(tmp_path: Path, backend: str, latency: str | None, sig: signal.Signals) -> None:
    home = tmp_path / "home"
    db = tmp_path / "mlflow.db"
    with running_emulator("local/smollm2-135m-instruct", backend, latency=latency) as url:
        text = SPEC.format(name=sig.name.lower(), n=QUESTIONS, method="closed_book", url=url)
        spec_path = tmp_path / "spec.yaml"
        spec_path.write_text(text, encoding="utf-8")
        answers = home / "runs" / parse_spec(text).run_key() / "answers.jsonl"
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "tierlab"), "run", str(spec_path), "--quiet",
             "--tracking-uri", f"sqlite:///{db}"],
            env={**os.environ, "TIERLAB_HOME": str(home)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            _wait_for(lambda: _lines(answers) >= 2, 240, "2 answers stored", proc)
            proc.send_signal(sig)
            signalled = time.monotonic()
            out, err = proc.communicate(timeout=180)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        seen = stats(url).get("requests", 0)
    stored = _lines(answers)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    # no call after the stop: the server saw exactly the stored answers (the ones in flight were kept)
    assert seen == stored < QUESTIONS, (seen, stored)
    assert f"| {stored}/{QUESTIONS} |" in out, out  # the summary so far
    assert "cancelled" in out and "interrupted" in err, (out, err)
    assert time.monotonic() - signalled < 120

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiment = client.get_experiment_by_name(f"interrupt-{sig.name.lower()}")
    (parent,) = client.search_runs([experiment.experiment_id], "tags.`tierlab.kind` = 'experiment'")
    assert parent.info.status == "KILLED"
    assert parent.data.metrics["usage/answers"] == stored


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_issuing_calls_stores_prints_and_exits_130(tmp_path, sig):
    _interrupt_cli(tmp_path, "echo", "1.0", sig)


@pytest.mark.slow
def test_ctrl_c_against_the_real_local_model(tmp_path, local_llm_url):
    _interrupt_cli(tmp_path, local_llm_url, None, signal.SIGINT)


def test_the_panels_cancel_makes_no_further_call_not_even_inside_a_question(tmp_path, monkeypatch):
    """CoVe makes 3 calls per question: after Cancel, a question in flight finishes the call it is in and makes no
    next one; its spend is kept as a failed attempt."""
    from toolkit.experiments.runner import run_experiment
    from toolkit.ui.run import BackgroundRun

    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "home"))
    with running_emulator("local/smollm2-135m-instruct", "echo", latency="1.0") as url:
        spec = parse_spec(SPEC.format(name="panel", n=4, method="cove_joint", url=url))
        run = BackgroundRun(spec, run=run_experiment, arms={},
                            to_row=lambda record: {"arm": record.arm})
        run.start()
        _wait_for(lambda: stats(url).get("requests", 0) >= 3, 60, "3 requests made")  # both questions in their 2nd call
        run.cancel()
        state = run.join(60)
        time.sleep(1.5)  # a call made after the cancel would have arrived by now
        seen = stats(url).get("requests", 0)
    assert not run.running and state.status == "cancelled"
    assert seen <= 4, seen  # the two calls in flight at the cancel, and nothing after them
    result = state.result
    spent = sum(a.cost["network_calls"] for a in result.arms)
    assert spent == seen  # every call the server saw is accounted for (answers or failed attempts)
    assert not [e for e in result.errors if "ancel" not in e]


def test_cancel_on_ray_stops_submitting_and_keeps_the_answers_in_flight(tmp_path, monkeypatch):
    """The Ray path: no new task after the cancel; tasks in flight finish and are stored."""
    from toolkit.experiments.runner import run_experiment

    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "home"))
    with running_emulator("local/smollm2-135m-instruct", "echo", latency="1.0") as url:
        spec = parse_spec(SPEC.format(name="ray", n=8, method="closed_book", url=url))
        cancel = threading.Event()
        result = run_experiment(spec, ray_address="local", progress=False, cancel=cancel,
                                on_answer=lambda record: cancel.set())
        seen = stats(url).get("requests", 0)
    assert result.arms[0].stopped == "cancelled"
    assert seen == len(result.records) < 8
