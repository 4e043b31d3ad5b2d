"""The runner end to end over real HTTP: real provider client, real methods, the real Factbook dev split, and a
counting OpenAI-compatible server on 127.0.0.1 that answers deterministically, so every model call is observable.

Covers: resumption (a rerun makes zero calls and gives identical numbers), ``kill -9`` of a runner subprocess +
rerun, budgets (pre-flight warning, enforced stop), cancel, emulated providers, Ray tasks and the CLI.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from servers import ChatServer

from toolkit.datasets import load_dataset

QUESTIONS = {q.question: q for q in load_dataset("factbook", "dev").questions}


class CountingServer(ChatServer):
    """The gold answer for every other dev question, else 'I don't know' (counting as ``ChatServer`` does)."""

    def reply(self, prompt: str) -> str:
        if "You check answers for hallucination" in prompt:  # the LLM judge's prompt
            return "UNSUPPORTED" if "Answer: I don't know" not in prompt else "ABSTAINED"
        for i, (text, question) in enumerate(sorted(QUESTIONS.items())):
            if text in prompt:
                return ", ".join(question.answers[:3]) if i % 2 == 0 and question.answers else "I don't know"
        return "I don't know"


@pytest.fixture()
def server():
    srv = CountingServer()
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TIERLAB_QUOTA_DIR", str(tmp_path / "home" / "quota"))


def spec_text(
    url: str,
    *,
    extra_provider: str = "",
    methods: str = "[closed_book, cove_joint]",
    sample: int = 4,
    concurrency: int = 2,
) -> str:
    lines = [
        "name: runner-test",
        f"sample_size: {sample}",
        "seed: 0",
        f"concurrency: {concurrency}",
        f"methods: {methods}",
        "providers:",
        "  - id: local/smollm2-135m-instruct",
        f"    base_url: {url}",
        "    cache: false",
        "    params: {temperature: 0, max_tokens: 16}",
        extra_provider,
    ]
    return "\n".join(lines) + "\n"


def _numbers(result) -> dict:
    """Everything that must be identical between runs: not latency, nor self-hosted $ (busy or reserved wall time x $/hour)."""
    return {
        arm.arm: (
            {k: v.model_dump() if v else None for k, v in arm.metrics.items()},
            {k: v for k, v in arm.cost.items() if not any(w in k for w in ("latency", "selfhosted", "reservation"))},
        )
        for arm in result.arms
    } | {"tests": [t.model_dump() for t in result.comparisons]}


def test_run_then_rerun_makes_zero_calls_and_identical_numbers(server):
    from toolkit.experiments.runner import run_experiment
    from toolkit.experiments.spec import parse_spec

    spec = parse_spec(spec_text(server.url))
    seen = []
    first = run_experiment(spec, progress=False, on_answer=seen.append)
    assert not first.errors, first.errors
    assert len(first.records) == len(seen) == 8
    assert {a.answered for a in first.arms} == {4}
    calls = server.total()
    assert (
        calls == first.network_calls > 8
    )  # closed_book 1 call per question, cove_joint at least 2 when it verifies
    assert first.comparisons and {t.metric for t in first.comparisons} >= {"accuracy", "hallucination"}
    # the server answers half the questions right: accuracy is neither 0 nor 1 and comes with an interval
    closed = next(a for a in first.arms if a.method == "closed_book")
    assert 0 < closed.metrics["accuracy"].value < 1
    assert (
        closed.metrics["accuracy"].low <= closed.metrics["accuracy"].value <= closed.metrics["accuracy"].high
    )
    assert closed.cost["network_calls"] == 4 and closed.cost["input_tokens"] == 80

    again = run_experiment(spec, progress=False)
    assert server.total() == calls and again.network_calls == 0
    assert _numbers(again) == _numbers(first)


def test_budget_is_reported_before_and_enforced_while_running(server, capsys):
    from toolkit.experiments.runner import run_experiment
    from toolkit.experiments.spec import parse_spec

    text = spec_text(server.url).replace(
        "    cache: false", "    cache: false\n    budget: {max_requests: 6}"
    )
    result = run_experiment(parse_spec(text), progress=True)
    err = capsys.readouterr().err
    assert "pre-flight" in err and "would exceed the budget" in err
    assert server.total() <= 6
    assert any(a.stopped and a.stopped.startswith("budget: max_requests=6") for a in result.arms)
    assert all(e.over_budget for e in result.preflight)


def test_cancel_keeps_what_was_answered_and_a_rerun_continues(server):
    from toolkit.experiments.runner import run_experiment
    from toolkit.experiments.spec import parse_spec

    spec = parse_spec(spec_text(server.url, methods="[closed_book]", concurrency=1))
    cancel = threading.Event()
    first = run_experiment(
        spec, progress=False, cancel=cancel, on_answer=lambda record: cancel.set()
    )
    assert len(first.records) == 1 and first.arms[0].stopped == "cancelled"
    second = run_experiment(spec, progress=False)
    assert len(second.records) == 4 and server.total() == 4 and server.repeated() == 0


def test_kill_minus_9_then_rerun_repeats_no_call_and_gives_identical_numbers(server, tmp_path):
    from toolkit.experiments.runner import run_experiment
    from toolkit.experiments.spec import parse_spec

    server.delay_s = 0.3
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(spec_text(server.url, sample=6))
    store = None
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from toolkit.experiments.runner import run_experiment; "
            "run_experiment(sys.argv[1], progress=False)",
            str(spec_path),
        ],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        spec = parse_spec(spec_path.read_text())
        store = tmp_path / "home" / "runs" / spec.run_key() / "answers.jsonl"
        while time.monotonic() < deadline and (not store.exists() or len(store.read_text().splitlines()) < 3):
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    stored_before = len(store.read_text().splitlines())
    assert 3 <= stored_before < 12, "the kill should land mid-run"
    calls_before = server.total()

    resumed = run_experiment(spec, progress=False)
    assert len(resumed.records) == 12 and not resumed.errors
    assert server.total() - calls_before == resumed.network_calls
    stored_keys = [
        (json.loads(line)["arm"], json.loads(line)["question"]["id"])
        for line in store.read_text().splitlines()
    ]
    assert len(stored_keys) == len(set(stored_keys)) == 12  # nothing stored was asked again
    interrupted = server.reset()

    # the same spec run uninterrupted in a fresh home: same numbers, and the same calls except those that were
    # in flight at the kill (sent, never answered, so never stored) -- at most one question per worker thread
    os.environ["TIERLAB_HOME"] = str(tmp_path / "fresh")
    fresh = run_experiment(spec, progress=False)
    assert _numbers(fresh) == _numbers(resumed)
    extra = sum((interrupted - server.calls).values())
    assert extra <= spec.concurrency * 4, f"{extra} calls repeated beyond those in flight"


def test_replay_after_finish_makes_no_call_even_without_the_provider_cache(server):
    """The stored answers alone make a replay free: no model, no retriever, no emulator is even built."""
    from toolkit.experiments.components import Components
    from toolkit.experiments.runner import run_experiment
    from toolkit.experiments.spec import parse_spec

    spec = parse_spec(spec_text(server.url, methods="[closed_book]"))
    run_experiment(spec, progress=False)

    class Refuses(Components):
        def chat_model(self, provider, base_url):
            raise AssertionError("a replay must not build a chat model")

        def method(self, method):
            raise AssertionError("a replay must not build a method")

    replay = run_experiment(spec, progress=False, components=Refuses())
    assert len(replay.records) == 4 and replay.network_calls == 0


def test_emulated_free_tier_arm_goes_through_the_emulator(server):
    from toolkit.experiments.runner import run_experiment
    from toolkit.experiments.spec import parse_spec

    emulated = "\n".join(
        [
            "  - id: groq/llama-3.1-8b-instant",
            "    emulate: true",
            f"    emulator_backend: {server.url}",
            "    cache: false",
            "    params: {temperature: 0, max_tokens: 16}",
        ]
    )
    result = run_experiment(
        parse_spec(spec_text(server.url, extra_provider=emulated, methods="[closed_book]", sample=3)),
        progress=False,
    )
    assert not result.errors, result.errors
    arms = {a.provider: a for a in result.arms}
    assert arms["groq/llama-3.1-8b-instant~emulated"].answered == 3
    # same backend, same answers: the emulator changes limits and headers, not text
    assert (
        arms["groq/llama-3.1-8b-instant~emulated"].metrics["accuracy"]
        == arms["local/smollm2-135m-instruct"].metrics["accuracy"]
    )
    assert server.total() == 6


def test_optional_provider_without_key_is_skipped(server, monkeypatch):
    from toolkit.experiments.runner import run_experiment
    from toolkit.experiments.spec import parse_spec

    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    optional = "  - id: groq/llama-3.1-8b-instant\n    optional: true"
    result = run_experiment(
        parse_spec(spec_text(server.url, extra_provider=optional, methods="[closed_book]", sample=2)),
        progress=False,
    )
    assert result.skipped == {"groq/llama-3.1-8b-instant": "$GROQ_API_KEY is not set"}
    assert [a.provider for a in result.arms] == ["local/smollm2-135m-instruct"]


def test_arms_as_ray_tasks(server):
    ray = pytest.importorskip("ray")
    from toolkit.experiments.runner import run_experiment
    from toolkit.experiments.spec import parse_spec

    seen = []
    result = run_experiment(
        parse_spec(spec_text(server.url, sample=3)),
        progress=False,
        ray_address="local",
        on_answer=seen.append,
    )
    assert not ray.is_initialized(), "the private local Ray is shut down after the run"
    assert not result.errors, result.errors
    assert len(result.records) == len(seen) == 6
    assert server.total() == result.network_calls
    again = run_experiment(parse_spec(spec_text(server.url, sample=3)), progress=False)
    assert again.network_calls == 0 and _numbers(again) == _numbers(result)


def test_cli_run_and_report(server, tmp_path):
    from typer.testing import CliRunner

    from toolkit.cli import app
    from toolkit.experiments.spec import load_spec

    path = tmp_path / "spec.yaml"
    path.write_text(spec_text(server.url, methods="[closed_book]", sample=2))
    runner = CliRunner()
    ran = runner.invoke(app, ["run", str(path), "--no-track", "--quiet"])
    assert ran.exit_code == 0, ran.output
    assert "| local/smollm2-135m-instruct | closed_book | 2/2 |" in ran.output and "accuracy" in ran.output
    reported = runner.invoke(app, ["report", load_spec(path).run_key()])
    assert reported.exit_code == 0 and "2/2" in reported.output and server.total() == 2
    bad = runner.invoke(app, ["report", "no-such-run"])
    assert bad.exit_code == 2 and "Stored runs:" in bad.output
    path.write_text("name: x\nprovidres: [local/a]\nmethods: [rag]\n")
    rejected = runner.invoke(app, ["run", str(path)])
    assert rejected.exit_code == 2 and "spec.yaml:2" in rejected.output


def test_llm_judge_verdicts_cost_and_agreement(server):
    from toolkit.experiments.runner import run_experiment
    from toolkit.experiments.spec import parse_spec

    text = spec_text(server.url, methods="[closed_book]") + (
        f"judges: [offline, {{name: llm:local/smollm2-135m-instruct, base_url: {server.url}, sample: 3}}]\n"
    )
    result = run_experiment(parse_spec(text), progress=False)
    judged = [r for r in result.records if r.llm_verdict is not None]
    assert len(judged) == 3 and all((r.llm_verdict.judge, r.llm_verdict.version) == ("llm", "llm-judge-v2") for r in judged)
    arm = result.arms[0]
    assert arm.cost["judge_calls"] == 3 and arm.cost["network_calls"] == 4  # judge calls are not the arm's
    assert arm.cost["judge_n"] == 3 and 0.0 <= arm.cost["judge_agreement"] <= 1.0
    # this scripted judge calls every non-abstaining answer unsupported; the rules accept the correct ones
    expected = sum(r.verdict.hallucinated == r.llm_verdict.hallucinated for r in judged) / 3
    assert arm.cost["judge_agreement"] == pytest.approx(expected)
    assert "llm_hallucination_rate" in arm.metrics


def test_a_sample_too_small_to_test_warns_before_any_model_call(server):
    import warnings

    from toolkit.experiments.runner import run_experiment
    from toolkit.experiments.spec import parse_spec

    spec = parse_spec(spec_text(server.url, methods="[closed_book]", sample=4))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*fewer than the 10 paired questions")
        with pytest.raises(UserWarning, match="4 questions are fewer than the 10 paired questions"):
            run_experiment(spec, progress=False)
    assert server.total() == 0  # said before the run, not after it
