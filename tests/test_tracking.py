"""End to end against a real `mlflow server` on 127.0.0.1 (conftest's ``mlflow_server``, stopped by PID).

1. The real local model: a tiny experiment (2 questions x closed_book + cove_joint) logged as one parent run and
   one child run per arm, with metrics and CIs, the per-question table, traces, plots and the summary.
2. What a reviewer reads in MLflow alone (issue 19), on an emulated free-tier run (echo backend, fast): context tags,
   the dataset input with the digest of its files, grouped metric names, the combined cost, significance, readable
   run names, experiment-time durations, assessments on traces, consistent spans, token usage, chat messages, JSON
   params with ``max_tokens`` a number, and no secret anywhere."""

import json
from datetime import datetime
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_experiment_logged_to_a_real_mlflow_server(mlflow_server, local_llm_url, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from toolkit import tracking
    from toolkit.experiments.runner import run_experiment
    from toolkit.experiments.spec import parse_spec
    from toolkit.tracking import mlflow_logger

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
    result = run_experiment(spec, progress=False, log=mlflow_logger(mlflow_server))
    assert not result.errors, result.errors
    assert len(result.records) == 4 and result.network_calls >= 4
    assert all(r.answer.text for r in result.records)

    client = MlflowClient(tracking_uri=mlflow_server)
    parent = client.get_run(result.mlflow_run_id)
    assert parent.data.params["spec_hash"] == spec.spec_hash()
    assert json.loads(parent.data.params["methods"]) == ["closed_book", "cove_joint"]
    assert "catalog_version" in parent.data.params and parent.data.metrics["usage/answers"] == 4
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"spec.yaml", "spec_resolved.yaml", "summary.md", "questions_all_arms.json", "plots"} <= artifacts
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert plots == {"plots/accuracy_vs_cost.png", "plots/hallucination_by_method.png"}
    summary = Path(client.download_artifacts(parent.info.run_id, "summary.md", str(tmp_path))).read_text()
    assert "| local/smollm2-135m-instruct | closed_book | 2/2 |" in summary

    arms = tracking.load_runs("tracking-e2e", tracking_uri=mlflow_server, parent_run_id=parent.info.run_id)
    assert sorted(arms["tags.tierlab.arm"]) == sorted(a.arm for a in result.arms)
    for _, row in arms.iterrows():
        value, low, high, n = tracking.arm_intervals(row)["quality/accuracy"]  # the interval is a param
        assert low <= value <= high and n == 2 and value == row["metrics.quality/accuracy"]
        assert row["metrics.usage/answered"] == 2 and row["metrics.usage/network_calls"] >= 2
        assert row["params.provider"] == "local/smollm2-135m-instruct"
        # a self-hosted arm records the model id its server reports, not only the catalog's name for it
        assert row["params.endpoint.served_model"] == "smollm2-135m-instruct"
        assert json.loads(row["params.endpoint.response_models"]) == ["smollm2-135m-instruct"]  # what answers said
        assert row["params.answered_by"] == "smollm2-135m-instruct"
        assert "questions.json" in {a.path for a in client.list_artifacts(row["run_id"])}
        traces = tracking.search_traces(row["run_id"], tracking_uri=mlflow_server)
        assert len(traces) == 2
    cove_run = arms[arms["tags.tierlab.arm"].str.endswith("cove_joint")].iloc[0]["run_id"]
    spans = tracking.search_traces(cove_run, tracking_uri=mlflow_server)[0].data.spans
    assert {s.name for s in spans} >= {"baseline"} and len(spans) >= 3  # root + baseline + verification steps

    # no secret ever reaches MLflow: params are filtered, and nothing key-like is in the logged tables
    assert not any("key" in k.lower() and v not in ("***", "") for k, v in parent.data.params.items())

    # replaying the finished experiment: zero model calls, same parent run (not logged twice)
    replay = run_experiment(spec, progress=False, log=mlflow_logger(mlflow_server))
    assert replay.network_calls == 0 and replay.mlflow_run_id == result.mlflow_run_id
    parents = tracking.load_runs("tracking-e2e", tracking_uri=mlflow_server, kind="experiment")
    assert len(parents) == 1


def _everything_logged(client, run, tmp_path) -> str:
    """Every string MLflow holds for a run: params, tags, metric names, dataset inputs, artifacts, traces."""
    import mlflow

    parts = [json.dumps(run.data.params), json.dumps(run.data.tags), json.dumps(sorted(run.data.metrics))]
    parts += [f"{d.dataset.name} {d.dataset.source} {d.dataset.profile} {d.dataset.schema} {[t.value for t in d.tags]}"
              for d in run.inputs.dataset_inputs]
    folder = Path(client.download_artifacts(run.info.run_id, "", str(tmp_path / run.info.run_id)))
    parts += [p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file() and p.suffix != ".png"]
    traces = mlflow.search_traces(locations=[run.info.experiment_id], run_id=run.info.run_id, return_type="list")
    parts += [t.to_json() for t in traces]
    return "\n".join(parts)


def test_a_reviewer_can_read_the_run_in_mlflow_alone(mlflow_server, tmp_path, monkeypatch):
    import mlflow
    from mlflow import MlflowClient
    from review_run import NAME, SECRET, log_review_run

    from toolkit import tracking
    from toolkit.datasets.files import dataset_files, files_digest
    from toolkit.judges import judge_card

    result = log_review_run(mlflow_server, monkeypatch, tmp_path / "home")
    client = MlflowClient(tracking_uri=mlflow_server)
    parent = client.get_run(result.mlflow_run_id)
    experiment = client.get_experiment(parent.info.experiment_id)
    arms = client.search_runs([experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert len(arms) == 2

    # provenance: MLflow's context tags (create_run does not add them by itself), TierLab version and commit
    for run in (parent, *arms):
        tags = run.data.tags
        assert tags["mlflow.user"] and tags["mlflow.source.name"] and tags["mlflow.source.type"] == "LOCAL"
        assert len(tags["mlflow.source.git.commit"]) == 40 and tags["tierlab.version"]
    assert "Reviewer walk-through" in parent.data.tags["mlflow.note.content"]
    # the dataset as an MLflow dataset input: name, split, digest of the files' contents, source
    digest = files_digest(dataset_files("factbook", "dev"))
    for run in (parent, *arms):
        (dataset,) = run.inputs.dataset_inputs
        assert dataset.dataset.name == "factbook-dev" and dataset.dataset.digest == digest[:32]
        assert json.loads(dataset.dataset.source)["uri"].endswith("questions/dev.jsonl")
        assert {t.key: t.value for t in dataset.tags}["mlflow.data.context"] == "dev"
    assert parent.data.params["dataset.sha256"] == digest

    by_name = {r.info.run_name: r for r in arms}
    assert set(by_name) == {"closed_book · groq~emu", "cove_joint · groq~emu"}  # short: the runs table shows them whole
    assert parent.info.run_name == f"{NAME} · {result.spec.spec_hash()}"
    for run in arms:
        params, metrics = run.data.params, run.data.metrics
        # what answered: the emulator, and behind it the echo backend, never the real Groq
        assert params["endpoint.emulated"] == "true" and params["endpoint.emulates_host"] == "api.groq.com"
        assert params["answered_by"].startswith("echo") and "echo" in run.data.tags["tierlab.answered_by"]
        # the model the emulator pretends to be is not reported as the one that answered
        assert "endpoint.response_models" not in params
        assert params["generation.max_tokens"] == "24" and float(params["generation.max_tokens"]) == 24
        assert json.loads(params["prompt_versions"])
        # a compact set of grouped metric names (chart sections); intervals are params, not three metrics each
        assert all("/" in k for k in metrics) and len(metrics) <= 25, sorted(metrics)
        # (the prediction-powered rate keeps its bounds as metrics: they change when marks are added later)
        assert not any(k.endswith(("_ci_low", "_ci_high")) for k in metrics if not k.startswith("hallucination/rate_ppi"))
        assert {k.split("/")[0] for k in metrics} == {"quality", "hallucination", "cost", "latency", "usage"}
        assert tracking.arm_intervals({f"params.{k}": v for k, v in params.items()})["quality/accuracy"][3] == 3
        # cost in $ per 1,000 questions: one sortable total with its parts, a paid call counted once
        cost = {k.removeprefix("cost/").removesuffix("_usd_per_1k_questions"): v for k, v in metrics.items()
                if k.endswith("_per_1k_questions")}
        assert set(cost) == {"total", "charged", "paid_tier", "selfhosted"}
        assert cost["total"] == pytest.approx(max(cost["charged"], cost["paid_tier"]) + cost["selfhosted"])
        assert cost["total"] > 0.001  # the shadow price of Groq's paid tier, readable per 1,000 questions
        assert run.info.status == "FINISHED"
        # the run's times are the answers' (first start .. last finish), not the time spent logging
        records = [r for r in result.records if r.arm == run.data.tags["tierlab.arm"]]
        ends = [datetime.fromisoformat(r.finished_at).timestamp() for r in records]
        assert run.info.start_time == int(min(e - r.latency_s for e, r in zip(ends, records, strict=True)) * 1000)
        assert run.info.end_time == int(max(ends) * 1000)
        assert run.info.end_time <= parent.info.end_time
        table = tracking.load_question_table(run.info.run_id, tracking_uri=mlflow_server)
        assert list(table.columns[:2]) == ["question_id", "arm"] and len(table) == 3
    parent_artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert "questions_all_arms.json" in parent_artifacts and "questions.json" not in parent_artifacts
    # the judge that produced the verdicts and its version, with its card's figures on real answers
    offline = judge_card("offline")
    assert json.loads(parent.data.params["judge.name"]) == ["offline"]
    assert json.loads(parent.data.params["judge.version"]) == [offline["version"]]
    assert parent.data.metrics["judge/balanced_accuracy"] == offline["figures"]["balanced_accuracy"]
    assert parent.data.params["judge.card_split"] == "real_answers_test"
    # the accuracy scorer's card: its agreement with readers on real answers, per kind; intervals as ci/ params
    from toolkit.metrics.card import scorer_card

    card = scorer_card()
    assert parent.data.metrics["scorer/agreement_all"] == card["kinds"]["all"]["agreement"]
    assert parent.data.params["ci/scorer/agreement_short"].endswith(f"n={card['kinds']['short']['n']}")
    assert parent.data.params["scorer.card_version"] == card["version"] and card["current"]
    # significance on the parent: counts as metrics, and in words in the description (3 pairs: too few to test)
    assert parent.data.metrics["significance/too_few_to_test"] > 0
    assert "too few to test" in parent.data.tags["mlflow.note.content"]

    # traces: consistent span times, token usage (the Tokens column), chat messages, assessments, filterable tags
    mlflow.set_tracking_uri(mlflow_server)
    mlflow.flush_trace_async_logging()
    traces = mlflow.search_traces(locations=[experiment.experiment_id], return_type="list")
    assert len(traces) == 6
    for trace in traces:
        assert all(s.end_time_ns >= s.start_time_ns for s in trace.data.spans)
        root = next(s for s in trace.data.spans if s.parent_id is None)
        assert all(root.start_time_ns <= s.start_time_ns and s.end_time_ns <= root.end_time_ns for s in trace.data.spans)
        assert trace.info.token_usage["total_tokens"] > 0
        chat = [s for s in trace.data.spans if s.span_type == "CHAT_MODEL"]
        assert chat and all(s.inputs["messages"][-1]["role"] == "user" for s in chat)
        assert all(s.get_attribute("mlflow.chat.messages")[-1]["role"] == "assistant" for s in chat)
        # assessments read "True is good": the echo backend's answers are wrong and unsupported, so both are False
        feedback = {a.name: a for a in trace.info.assessments}
        assert feedback["supported"].value is False and feedback["supported"].source.source_id == offline["version"]
        assert feedback["supported"].rationale.startswith("hallucinated")
        assert feedback["correct"].value is False and feedback["correct"].source.source_type == "CODE"
        assert trace.info.tags["verdict"] == "hallucinated"
    wrong = mlflow.search_traces(locations=[experiment.experiment_id], filter_string="tags.correct = 'false'",
                                 return_type="list")
    assert len(wrong) == 6
    # "the hallucinated answers of one arm", as a reviewer filters them
    arm = arms[0].data.tags["tierlab.arm"]
    hallucinated = mlflow.search_traces(
        locations=[experiment.experiment_id], return_type="list",
        filter_string=f"feedback.supported = 'false' AND tags.arm = '{arm}'")
    assert len(hallucinated) == 3 and {t.info.tags["arm"] for t in hallucinated} == {arm}

    # the key is in the environment and in the spec (description, base URL query) — and nowhere in MLflow
    assert SECRET in result.spec.description and SECRET in (result.spec.providers[0].base_url or "")
    for run in (parent, *arms):
        assert SECRET not in _everything_logged(client, run, tmp_path)
    assert SECRET not in json.dumps(experiment.tags)
    assert experiment.name == NAME
