"""The planner on the runs people really have: resumed runs, an emulated and a real arm of one provider, small
samples, a CPU-only self-hosted profile, and the default output folder. Real runner, real MLflow (SQLite store),
scripted chat models (what they answer is set per provider label, so the arms differ on purpose)."""

import contextlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from scripted import ScriptedChatModel
from test_planner_runs import QUESTIONS

from toolkit.experiments.components import Components
from toolkit.experiments.runner import run_experiment
from toolkit.experiments.spec import ExperimentSpec
from toolkit.planner.run import plan_from_runs
from toolkit.planner.workload import load_workload
from toolkit.tracking import mlflow_logger

REPO = Path(__file__).resolve().parent.parent
WORKLOAD = REPO / "experiments" / "workload.yaml"
CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Peru": "Lima", "Cuba": "Havana"}


class ByLabel(Components):
    """The real provider knows three capitals, its emulated twin one; no keys, no emulator process needed."""

    def questions(self, spec):
        return QUESTIONS

    def unavailable(self, provider):
        return None

    @contextlib.contextmanager
    def emulator(self, provider):
        yield None

    def chat_model(self, provider, base_url):
        known = dict(list(CAPITALS.items())[: 1 if provider.emulate else 3])
        return ScriptedChatModel(rules=[(rf"capital of {c}\?", a) for c, a in known.items()], default="I don't know")


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "home"))


def _spec(name: str, providers: list) -> ExperimentSpec:
    return ExperimentSpec(name=name, dataset="factbook", sample_size=4, providers=providers, methods=["closed_book"],
                          bootstrap_resamples=200)


def test_emulated_and_real_arms_of_one_provider_are_planned_apart(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    groq = "groq/llama-3.1-8b-instant"
    spec = _spec("twins", [groq, {"id": groq, "emulate": True}])
    result = run_experiment(spec, progress=False, log=mlflow_logger(uri), components=ByLabel())
    out = plan_from_runs([result.mlflow_run_id], load_workload(WORKLOAD), tmp_path / "plan", attach=False,
                         tracking_uri=uri)
    free = {c.provider: c.accuracy for c in out.plan.choices if c.tier == "free"}
    assert free == {groq: 0.75, f"{groq}~emulated": 0.25}


def test_a_resumed_run_is_planned_once_from_its_final_answers(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = _spec("resumed", ["groq/llama-3.1-8b-instant", "local/smollm2-135m-instruct"])
    cancel = threading.Event()
    run_experiment(spec, progress=False, log=mlflow_logger(uri), components=ByLabel(), cancel=cancel,
                   on_answer=lambda record: cancel.set())
    run_experiment(spec, progress=False, log=mlflow_logger(uri), components=ByLabel())
    out = plan_from_runs([spec.name], load_workload(WORKLOAD), tmp_path / "plan", attach=False, tracking_uri=uri)
    labels = [c.label for c in out.plan.choices]
    assert len(labels) == len(set(labels)) == 3  # groq free + paid, local self-hosted: once each
    assert {c.n_questions for c in out.plan.choices} == {4}


def test_too_small_a_sample_is_said_and_a_cpu_profile_is_sized_in_cpu_hours(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = _spec("small", ["groq/llama-3.1-8b-instant", "local/smollm2-135m-instruct"])
    result = run_experiment(spec, progress=False, log=mlflow_logger(uri), components=ByLabel())
    out = plan_from_runs([result.mlflow_run_id], load_workload(WORKLOAD), tmp_path / "plan", attach=False,
                         tracking_uri=uri)
    assert "too few to tell these choices apart" in out.plan.caveat and "**Caveat:**" in out.markdown
    assert "n=4" in out.markdown  # accuracy shown with its n and interval
    local = next(c for c in out.plan.choices if c.tier == "selfhosted")
    assert local.accelerator == "cpu" and local.accelerator_hours_per_month == local.gpus * 24 * 30
    row = next(line for line in out.markdown.splitlines() if line.startswith(f"| {local.label}"))
    assert "CPU node" in row and "CPU-h/month" in row and "GPU" not in row


def test_plan_output_defaults_to_the_tierlab_home(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = _spec("out", ["groq/llama-3.1-8b-instant"])
    result = run_experiment(spec, progress=False, log=mlflow_logger(uri), components=ByLabel())
    work = tmp_path / "cwd"
    work.mkdir()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "tierlab"), "plan", "--runs", result.mlflow_run_id, "--workload",
         str(WORKLOAD), "--no-attach", "--tracking-uri", uri],
        cwd=work, env=os.environ.copy(), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "home" / "plans" / "support-bot" / "plan.md").exists()
    assert list(work.iterdir()) == []
