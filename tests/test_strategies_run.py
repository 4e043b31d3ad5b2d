"""The strategies experiment end to end with a scripted model and a real MLflow store (SQLite in tmp)."""

import pytest
from scripted import ScriptedChatModel

from toolkit.experiments.components import Components
from toolkit.records import Question
from toolkit.strategies.review import ReviewQueue
from toolkit.strategy_runs import StrategyExperiment, run_strategies, sync_review

CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Peru": "Lima", "Chad": "N'Djamena", "Fiji": "Suva", "Cuba": "Havana"}
QUESTIONS = tuple(Question(id=f"cap-{c}", question=f"What is the capital of {c}?", kind="short", answers=(a,),
                           dataset="toy") for c, a in CAPITALS.items())


class Fakes(Components):
    """The cheap model knows three capitals and batches badly; the strong one knows all."""

    def questions(self, spec):
        return QUESTIONS

    def chat_model(self, provider, base_url):
        if provider.id.startswith("groq"):
            return ScriptedChatModel(rules=[(rf"capital of {c}\?", a) for c, a in CAPITALS.items()])
        known = list(CAPITALS.items())[:3]
        return ScriptedChatModel(rules=[(r"1\. What is the capital of France", "1. Paris\n3. Lima\n2. Tokyo")]
                                 + [(rf"capital of {c}\?", a) for c, a in known], default="I don't know")


def experiment(provider: str | dict = "local/smollm2-135m-instruct") -> StrategyExperiment:
    return StrategyExperiment.model_validate({
        "experiment": {"name": "strategies-unit", "dataset": "factbook", "providers": [provider],
                       "methods": ["closed_book"], "bootstrap_resamples": 200},
        "arms": {
            "batch3": {"batching": {"k": 3}},
            "cascade": {"cascade": {"strong": "groq/llama-3.3-70b-versatile", "signals": ["abstention"]}},
            "review": {"review": {"threshold": 0.5}},
            "cache": {"caching": {"exact": True}},
        },
    })


def test_arms_vs_baseline_logged_to_mlflow(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    res = run_strategies(experiment(), components=Fakes(), tracking_uri=uri, runs_root=tmp_path / "runs",
                         review_root=tmp_path / "review")
    c = res.counters
    assert c["baseline"]["calls"] == 6 and c["baseline"]["accuracy"] == 0.5
    assert c["batch3"]["calls"] == 2 + 3 and c["batch3"]["batch_retries"] == 3  # batch 2 unparsed -> 3 singles
    assert c["batch3"]["calls_saved"] == pytest.approx(1 / 6)
    assert c["cascade"]["accuracy"] == 1.0 and c["cascade"]["escalated_share"] == 0.5
    assert c["cascade"]["quota.scripted/fake.calls"] == 9  # 6 cheap + 3 strong (both scripted)
    assert c["review"]["review.items_per_100"] == 50.0

    table = res.table()
    assert list(table["arm"]) == ["baseline", "batch3", "cascade", "review", "cache"]
    by_arm = table.set_index("arm")
    assert by_arm.loc["batch3", "calls vs baseline"] == "17% fewer"  # words, never a negative "saving"
    assert by_arm.loc["cascade", "calls vs baseline"] == "50% more" and by_arm.loc["baseline", "calls vs baseline"] == "same"
    # the runner's accounting (calls another arm made are timed and charged as made, not as 0 s replays)
    assert all("shared_calls" in arm.cost for arm in res.result.arms)
    assert table.set_index("arm").loc["cascade", "accuracy_diff_vs_baseline"].startswith("+0.500")

    from toolkit import tracking

    runs = tracking.load_runs("strategies-unit", tracking_uri=uri).set_index("tags.tierlab.arm")
    cascade = runs.loc[res.experiment.arm_label("cascade")]
    assert cascade["params.strategy"] == "cascade"
    assert cascade["metrics.strategy.escalated_share"] == 0.5 and cascade["metrics.quality/accuracy"] == 1.0

    # Human review: mark the two queued abstentions; the reviewed accuracy lands in the arm's run.
    queue = ReviewQueue(res.review_queues["review"], root=tmp_path / "review")
    assert len(queue.items()) == 3
    for item in queue.items():
        queue.mark(item.question_id, correct=False)
    queue.mark(queue.items()[0].question_id, correct=True)
    summary = sync_review(res, review_root=tmp_path / "review", tracking_uri=uri)["review"]
    assert summary["accuracy_reviewed"] == pytest.approx(4 / 6)
    run = tracking.load_runs("strategies-unit", tracking_uri=uri).set_index("tags.tierlab.arm")
    assert run.loc[res.experiment.arm_label("review"), "metrics.accuracy_reviewed"] == pytest.approx(4 / 6)

    # A rerun replays from the store: no model calls, same numbers.
    again = run_strategies(experiment(), components=Fakes(), track=False, runs_root=tmp_path / "runs",
                           review_root=tmp_path / "review")
    assert again.counters["batch3"] == c["batch3"]


def test_bad_strategies_files_say_how_to_fix():
    with pytest.raises(ValueError, match="ONE provider"):
        StrategyExperiment.model_validate({"experiment": {"name": "x", "providers": ["groq/llama-3.1-8b-instant", "gemini/gemini-2.5-flash"],
                                                          "methods": ["closed_book"]}, "arms": {"b": {}}})
    with pytest.raises(ValueError, match="reserved"):
        StrategyExperiment.model_validate({"experiment": {"name": "x", "providers": ["groq/llama-3.1-8b-instant"], "methods": ["closed_book"]},
                                           "arms": {"baseline": {"batching": {"k": 2}}}})
    with pytest.raises(ValueError, match="batchng"):
        StrategyExperiment.model_validate({"experiment": {"name": "x", "providers": ["groq/llama-3.1-8b-instant"], "methods": ["closed_book"]},
                                           "arms": {"b": {"batchng": {"k": 2}}}})


def test_strategy_arms_stop_at_the_providers_budget_and_on_cancel(tmp_path):
    """The runner's budget and Cancel hold for strategy arms (the old strategies loop had neither)."""
    import threading

    capped = experiment({"id": "local/smollm2-135m-instruct", "budget": {"max_requests": 4}})
    res = run_strategies(capped, components=Fakes(), track=False, runs_root=tmp_path / "runs",
                         review_root=tmp_path / "review")
    assert sum(c["calls"] for c in res.counters.values()) <= 4
    assert any((arm.stopped or "").startswith("budget: max_requests=4") for arm in res.result.arms)

    cancel = threading.Event()
    cancel.set()
    stopped = run_strategies(experiment(), components=Fakes(), track=False, runs_root=tmp_path / "runs2",
                             review_root=tmp_path / "review", cancel=cancel)
    assert not stopped.result.records and {arm.stopped for arm in stopped.result.arms} == {"cancelled"}


def test_a_plain_spec_runs_strategy_arms_with_preflight_and_judges(tmp_path):
    """Strategies are method options of any experiment spec: `tierlab run` answers, estimates and judges them."""
    from toolkit.experiments.runner import run_experiment
    from toolkit.experiments.spec import parse_spec

    spec = parse_spec("""
name: plain-strategies
dataset: factbook
bootstrap_resamples: 200
providers: [local/smollm2-135m-instruct]
methods:
  - closed_book
  - {name: closed_book, label: batched, strategies: {batching: {k: 3}}}
  - {name: closed_book, label: cascaded, strategies: {cascade: {strong: groq/llama-3.3-70b-versatile}}}
""")
    result = run_experiment(spec, components=Fakes(), progress=False, runs_root=tmp_path / "runs")
    by_arm = {a.arm.split(" | ")[1]: a for a in result.arms}
    assert {name: a.answered for name, a in by_arm.items()} == {"closed_book": 6, "batched": 6, "cascaded": 6}
    estimates = {e.arm.split(" | ")[1]: e.calls for e in result.preflight}
    assert estimates == {"closed_book": 6, "batched": 6, "cascaded": 12}  # a cascade may ask twice
    batched = [r for r in result.records if r.method == "batched"]
    assert sum(r.answer.usage.calls for r in batched) == 2 + 3 and all(r.verdicts for r in result.records)
    assert parse_spec(spec.to_yaml()).run_key() == spec.run_key()
    plain = parse_spec(spec.to_yaml().replace("k: 3", "k: 2"))
    assert plain.run_key() != spec.run_key()  # the strategies are part of the run identity


def test_batching_and_caching_arms_on_ray(tmp_path, monkeypatch):
    """On Ray a batching arm's questions travel as one task; every call reaches the (echo) server once."""
    from toolkit.experiments.components import Components as Real
    from toolkit.experiments.runner import run_experiment
    from toolkit.experiments.spec import parse_spec
    from toolkit.providers.emulator import running_emulator, stats

    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "home"))
    with running_emulator("local/smollm2-135m-instruct", "echo") as url:
        spec = parse_spec(f"""
name: ray-strategies
sample_size: 4
seed: 3
methods:
  - {{name: closed_book, label: batched, strategies: {{batching: {{k: 4}}}}}}
  - {{name: closed_book, label: cached, strategies: {{caching: {{exact: true}}}}}}
providers:
  - {{id: local/smollm2-135m-instruct, base_url: "{url}", cache: false, params: {{max_tokens: 12}}}}
""")
        result = run_experiment(spec, ray_address="local", progress=False, components=Real())
        seen = stats(url).get("requests", 0)
    batched = [r for r in result.records if r.method == "batched"]
    # the echo reply carries no numbered lines: one batch call, then each question retried singly (never lost)
    assert len(batched) == 4 and all("batch_retry" in r.answer.flags for r in batched)
    assert seen == 1 + 4 + 4 == sum(r.answer.usage.calls for r in result.records)
    assert not result.errors and all(r.verdicts for r in result.records)


def test_a_cascade_whose_strong_provider_is_down_stops_before_anything_is_written(tmp_path, monkeypatch):
    """The runner's pre-run check covers the strong provider too: one clear error, no run folder."""
    from toolkit.experiments.components import Components as Real
    from toolkit.experiments.preconditions import Unreachable
    from toolkit.providers.emulator import running_emulator

    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "home"))
    with running_emulator("local/smollm2-135m-instruct", "echo") as url:
        exp = StrategyExperiment.model_validate({
            "experiment": {"name": "strong-down", "dataset": "factbook", "sample_size": 2,
                           "providers": [{"id": "local/smollm2-135m-instruct", "base_url": url}],
                           "methods": ["closed_book"]},
            "arms": {"cascade": {"cascade": {"strong": "local/smollm2-135m-instruct"}}},
            "strong": {"id": "local/smollm2-135m-instruct", "base_url": "http://127.0.0.1:20899/v1"},
        })
        with pytest.raises(Unreachable, match=r"strong provider .*127\.0\.0\.1:20899.*nothing was run"):
            run_strategies(exp, components=Real(), track=False, runs_root=tmp_path / "runs")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
