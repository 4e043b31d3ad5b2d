"""Accounting that holds up: a replayed arm keeps the latency that was measured, a call shared between arms is
charged to each, and a question that fails after spending calls still counts them (in cost and in the budget).

Real runner, real provider client and response cache, over real HTTP to a counting server on 127.0.0.1 whose answers
take a known time (``delay_s``), so every latency below has a floor that a replay from cache cannot reach.
"""

import numpy as np
import pytest
from test_experiments_runner import CountingServer, spec_text

from toolkit.experiments.accounting import arm_cost
from toolkit.experiments.components import Components
from toolkit.experiments.report import summary_markdown
from toolkit.experiments.runner import run_experiment
from toolkit.experiments.spec import parse_spec
from toolkit.tracking import mlflow_logger

DELAY = 0.3


@pytest.fixture()
def server():
    srv = CountingServer(delay_s=DELAY)
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "home"))


def _cached_spec(url: str, **kwargs) -> str:
    return spec_text(url, **kwargs).replace("cache: false", "cache: true")


def test_an_arm_replayed_from_cache_reports_the_latency_originally_measured(server, tmp_path):
    spec = parse_spec(_cached_spec(server.url, methods="[closed_book]"))
    first = run_experiment(spec, progress=False)
    measured = first.arms[0].cost
    assert measured["latency_p50_s"] >= DELAY and measured["answered_from_cache"] == 0

    # the same questions in a new run folder: every answer comes from the provider's response cache
    replay = run_experiment(spec, progress=False, runs_root=tmp_path / "elsewhere")
    cost = replay.arms[0].cost
    assert replay.network_calls == 0 and all(r.answer.cached for r in replay.records)
    assert cost["answered_from_cache"] == 4 and cost["latency_from_cache"] == 1.0
    assert cost["latency_p50_s"] == pytest.approx(measured["latency_p50_s"], rel=0.5)
    assert cost["latency_p50_s"] >= DELAY and cost["latency_p95_s"] >= DELAY  # not the ~0 s of a replay
    assert cost["rate_limited"] == 0
    assert "answered from cache: 4 (latency: as originally measured)" in summary_markdown(replay)


def test_the_cove_baseline_reused_from_the_closed_book_arm_is_charged_to_both(server):
    spec = parse_spec(_cached_spec(server.url, methods="[closed_book, cove_joint]", concurrency=1))
    result = run_experiment(spec, progress=False)
    closed, cove = result.arms
    cove_records = [r for r in result.records if r.method == "cove_joint"]
    baselines = [r.answer.steps[0] for r in cove_records]
    assert all(step.name == "baseline" and step.cached for step in baselines)  # served from the cache ...
    assert cove.cost["shared_calls"] == 4 and cove.cost["answered_from_cache"] == 0  # ... but not a replay
    assert all(step.usage.cached_latency_s >= DELAY for step in baselines)
    expected = np.median(
        [r.latency_s + s.usage.cached_latency_s for r, s in zip(cove_records, baselines, strict=True)]
    )
    assert cove.cost["latency_p50_s"] == pytest.approx(expected)
    assert cove.cost["calls"] == cove.cost["network_calls"] + 4
    assert cove.cost["input_tokens"] >= sum(s.usage.input_tokens for s in baselines) > 0
    assert closed.cost["shared_calls"] == 0
    table = result.questions_frame()  # the per-question MLflow table flags them per answer
    assert list(table.loc[table.method == "cove_joint", "shared_calls"]) == [1, 1, 1, 1]
    assert not table.loc[table.method == "closed_book", "shared_calls"].any() and not table.cached.any()
    assert server.repeated() == 0  # shared, not asked twice


class AskThenFail(Components):
    """A method that makes one real model call, then raises (a parser bug, say): the call was still paid."""

    def method(self, method):
        from langchain_core.messages import HumanMessage

        from toolkit.methods.calls import chat

        def ask_then_fail(question, llm, retriever=None):
            chat(llm, [("answer", [HumanMessage(content=question.question)])])
            raise ValueError("could not parse the answer")

        return ask_then_fail


def test_a_question_that_fails_after_spending_calls_still_counts_them(server):
    spec = parse_spec(spec_text(server.url, methods="[closed_book]"))
    result = run_experiment(spec, progress=False, components=AskThenFail())
    cost = result.arms[0].cost
    assert result.failed_arms == ("local/smollm2-135m-instruct | closed_book",) and len(result.errors) == 4
    assert server.total() == 4 and result.network_calls == 4
    assert cost["calls"] == 4 and cost["failed_calls"] == 4 and cost["failed_questions"] == 4
    assert cost["input_tokens"] == 4 * 20 and cost["output_tokens"] == 4 * 4
    assert "calls spent by failed questions: 4 (4 questions)" in summary_markdown(result)

    # the budget knows: 4 of max_requests 6 are spent, so the rerun may try only 2 more questions
    capped = parse_spec(spec_text(server.url, methods="[closed_book]") + "    budget: {max_requests: 6}\n")
    again = run_experiment(capped, progress=False, components=AskThenFail())
    assert server.total() == 6 and again.arms[0].cost["failed_calls"] == 6
    assert (again.arms[0].stopped or "").startswith("budget")


def _record(latency_s: float, cached: bool, original_s: float = 0.0):
    from toolkit.experiments.store import AnswerRecord
    from toolkit.judges.base import Verdict
    from toolkit.records import Answer, Question, Step, Usage

    usage = Usage(
        calls=1, cached_calls=int(cached), latency_s=0.0 if cached else latency_s, cached_latency_s=original_s
    )
    return AnswerRecord(
        arm="a",
        provider="p",
        method="m",
        question=Question(id=f"q{latency_s}", question=f"Q{latency_s}?", kind="short", answers=("x",)),
        answer=Answer(
            text="x", method="m", steps=(Step(name="answer", prompt=f"Q{latency_s}?", usage=usage),)
        ),
        latency_s=latency_s,
        verdict=Verdict(judge="rules", hallucinated=False),
    )


def test_cached_answers_are_left_out_of_latency_percentiles_of_a_measured_arm():
    records = [_record(1.0, False), _record(3.0, False), _record(0.01, True, 9.0), _record(0.01, True, 9.0)]
    cost = arm_cost(records, 0)
    assert cost["latency_p50_s"] == pytest.approx(2.0) and cost["latency_n"] == 2
    assert cost["answered_from_cache"] == 2 and cost["latency_from_cache"] == 0.0


def test_self_hosted_reservation_counts_idle_and_cold_start_once(server, tmp_path):
    """An endpoint `tierlab serve` started an hour before the run: the first run pays that hour (cold start and
    idle) plus its own wall time; the resumed run only its own window; a replay nothing."""
    import json
    import threading
    import time

    serve_state = tmp_path / "home" / "serve" / "8000"
    serve_state.mkdir(parents=True)
    hour_ago = time.time() - 3600
    (serve_state / "server.json").write_text(json.dumps({"base_url": server.url, "started_at": hour_ago}))
    spec = parse_spec(spec_text(server.url, methods="[closed_book]", concurrency=1))
    cancel = threading.Event()
    first = run_experiment(spec, progress=False, cancel=cancel, on_answer=lambda r: cancel.set())
    hours = first.arms[0].cost["reservation_hours"]
    assert 1.0 < hours < 1.1
    assert first.arms[0].cost["reservation_usd"] == pytest.approx(hours * 0.0832)  # catalog: a 2-vCPU node
    assert first.arms[0].cost["reservation_usd"] > 100 * first.arms[0].cost["selfhosted_cost_usd"]

    started = time.time()
    resumed = run_experiment(spec, progress=False)
    added = resumed.arms[0].cost["reservation_hours"] - hours
    assert 0 < added <= (time.time() - started) / 3600  # its own window only, not the hour again
    replay = run_experiment(spec, progress=False)
    assert replay.arms[0].cost["reservation_hours"] == resumed.arms[0].cost["reservation_hours"]
    assert "self-hosted reservation: " in summary_markdown(replay)


def test_the_planner_sees_the_measured_latency_of_a_replayed_arm(server, tmp_path):
    """Before, a replayed arm reached the planner with a p95 of ~0 s and won on latency it never had."""
    from toolkit.planner.inputs import load_arm_runs, measured_from_runs

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = parse_spec(_cached_spec(server.url, methods="[closed_book]"))
    run_experiment(spec, progress=False)
    replay = run_experiment(spec, progress=False, log=mlflow_logger(uri), runs_root=tmp_path / "elsewhere")
    assert replay.network_calls == 0
    [measured] = measured_from_runs(load_arm_runs([replay.mlflow_run_id], uri))
    assert measured.latency_p95_s >= DELAY


def test_a_cove_answer_whose_baseline_came_from_an_earlier_runs_cache_keeps_its_full_latency(server, tmp_path):
    """Issue 27: the CoVe arm alone in a new run, its baseline served from the cache the closed-book run filled; the
    baseline's original latency belongs to the answer (it used to be dropped: p50 3.0 s instead of about 7 s)."""
    run_experiment(parse_spec(_cached_spec(server.url, methods="[closed_book]")), progress=False)
    spec = parse_spec(_cached_spec(server.url, methods="[cove_joint]", concurrency=1))
    result = run_experiment(spec, progress=False, runs_root=tmp_path / "later")
    cost = result.arms[0].cost
    baselines = [r.answer.steps[0] for r in result.records]
    assert all(s.name == "baseline" and s.cached and s.usage.cached_latency_s >= DELAY for s in baselines)
    assert cost["shared_calls"] == 0 and cost["answered_from_cache"] == 0 and cost["latency_n"] == 4
    expected = np.median([r.latency_s + s.usage.cached_latency_s for r, s in zip(result.records, baselines,
                                                                                  strict=True)])
    assert cost["latency_p50_s"] == pytest.approx(expected)
    assert cost["latency_p50_s"] >= 2 * DELAY  # the replayed baseline and at least one live verification call


def test_a_partially_cached_answer_keeps_every_steps_original_latency_and_cost():
    from toolkit.experiments.store import AnswerRecord
    from toolkit.judges.base import Verdict
    from toolkit.records import Answer, Question, Step, Usage

    steps = (
        Step(name="baseline", prompt="Q?", usage=Usage(calls=1, cached_calls=1, cached_latency_s=4.0,
                                                        cached_cost_usd=0.02)),
        Step(name="verify", prompt="V?", usage=Usage(calls=1, latency_s=3.0, cost_usd=0.01)),
    )
    record = AnswerRecord(
        arm="a", provider="p", method="cove_joint", latency_s=3.0,
        question=Question(id="q", question="Q?", kind="short", answers=("x",)),
        answer=Answer(text="x", method="cove_joint", steps=steps), verdict=Verdict(judge="rules", hallucinated=False),
    )
    cost = arm_cost([record], 1)
    assert cost["latency_p50_s"] == pytest.approx(7.0) and cost["cost_usd"] == pytest.approx(0.03)
    assert cost["answered_from_cache"] == 0 and cost["cached_calls"] == 1
