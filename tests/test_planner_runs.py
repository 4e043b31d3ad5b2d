"""The planner on finished experiments: a scripted two-provider experiment logged to a real MLflow store, and
(slow) a real one answered by the local model server."""

import os
from pathlib import Path

import pytest
from scripted import ScriptedChatModel

from toolkit.experiments.components import Components
from toolkit.experiments.runner import run_experiment
from toolkit.experiments.spec import ExperimentSpec
from toolkit.planner.run import plan_from_runs
from toolkit.planner.workload import Workload, load_workload
from toolkit.records import Question
from toolkit.tracking import mlflow_logger

REPO = Path(__file__).resolve().parent.parent
QUESTIONS = tuple(Question(id=f"q{i}", question=f"What is the capital of {c}?", kind="short", answers=(a,), dataset="toy")
                  for i, (c, a) in enumerate({"France": "Paris", "Japan": "Tokyo", "Peru": "Lima", "Cuba": "Havana"}.items()))


class Scripted(Components):
    def questions(self, spec):
        return QUESTIONS

    def chat_model(self, provider, base_url):
        known = {"France": "Paris", "Japan": "Tokyo", "Peru": "Lima"}
        if provider.id.startswith("local"):
            known = {"France": "Paris"}
        return ScriptedChatModel(rules=[(rf"capital of {c}\?", a) for c, a in known.items()], default="I don't know")


def test_plan_from_a_finished_experiment_attaches_the_artifact(tmp_path):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = ExperimentSpec(name="plan-input", dataset="factbook", providers=["local/smollm2-135m-instruct",
                                                                        "groq/llama-3.1-8b-instant"],
                          methods=["closed_book"], bootstrap_resamples=200)
    result = run_experiment(spec, progress=False, log=mlflow_logger(uri), components=Scripted(), runs_root=tmp_path / "runs")
    workload = load_workload(REPO / "experiments" / "workload.yaml")
    out = plan_from_runs([result.mlflow_run_id], workload, tmp_path / "plan", tracking_uri=uri)

    by = {c.label: c for c in out.plan.choices}
    groq_free = by["groq/llama-3.1-8b-instant [closed_book] (free)"]
    assert groq_free.accuracy == 0.75 and groq_free.quota.holds  # 2,000 requests/day fits 14,400 RPD
    local = by["local/smollm2-135m-instruct [closed_book] (selfhosted)"]
    assert local.accuracy == 0.25 and local.gpus is not None
    assert out.plan.recommended.label == "groq/llama-3.1-8b-instant [closed_book] (free)"
    assert [Path(f).name for f in out.files] == ["plan.md", "plan.json", "cost_vs_traffic.png"]
    assert "Recommendation" in out.markdown and "Sensitivity" in out.markdown

    client = mlflow.MlflowClient(tracking_uri=uri)
    assert len(out.attached_to) == 2
    for run_id in out.attached_to:
        names = {a.path for a in client.list_artifacts(run_id, "planner/support-bot")}
        assert "planner/support-bot/plan.md" in names
        assert "cost_vs_traffic.png" in {a.path for a in client.list_artifacts(run_id)}

    # Sensitive data leaves only self-hosted choices.
    private = plan_from_runs([spec.name], workload.model_copy(update={"sensitive_data": True}), tmp_path / "p2",
                             attach=False, tracking_uri=uri)
    assert private.plan.recommended.tier == "selfhosted"
    with pytest.raises(ValueError, match="experiment name"):
        plan_from_runs(["no-such-run"], workload, tmp_path / "p3", tracking_uri=uri)


@pytest.mark.slow
def test_plan_from_a_real_local_experiment(local_llm_url, tmp_path, monkeypatch):
    """Two questions answered by the real local model (vLLM on Ray Serve), then planned."""
    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "home"))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = ExperimentSpec(
        name="plan-real", dataset="factbook", split="dev", sample_size=2, kinds=("short",),
        providers=[{"id": "local/smollm2-135m-instruct", "base_url": local_llm_url,
                    "params": {"temperature": 0, "max_tokens": 16}}],
        methods=["closed_book"], bootstrap_resamples=200,
    )
    result = run_experiment(spec, progress=False, log=mlflow_logger(uri), runs_root=tmp_path / "runs")
    assert result.arms[0].answered == 2
    workload = Workload(daily_active_users=50, requests_per_user=2, peak_concurrency=2, latency_target_s=30,
                        selfhosted_tokens_per_s={"local/smollm2-135m-instruct": 20})
    out = plan_from_runs([result.mlflow_run_id], workload, tmp_path / "plan", tracking_uri=uri)
    [choice] = out.plan.choices
    assert choice.tier == "selfhosted" and choice.monthly_usd == pytest.approx(choice.gpus * 0.0832 * 24 * 30)
    assert choice.latency_p95_s > 0 and len(out.attached_to) == 1 and out.attached_to == out.plan.run_ids
    assert os.path.exists(out.files[2])
