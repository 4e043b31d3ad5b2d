"""State belongs to one endpoint: a real free-tier emulator on 127.0.0.1 (echo backend) and a second endpoint, a
counting OpenAI-compatible stub (``servers.ChatServer``) standing in for the real provider, both called through the
real provider client with a (fake) API key set.

Before this was fixed, cache and quota were keyed by the catalog id only: the real ``groq/...`` arm was answered from
the emulated arm's cache (0 calls), an emulated ``daily-exhausted`` fault blocked the real provider until midnight,
an unreachable provider used up quota, and an emulator outlived a runner killed with ``kill -9``.
"""

import hashlib
import json
import os
import selectors
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from servers import ChatServer, refused_url

from toolkit.providers import ProviderError, QuotaExhausted, get_chat_model, remaining_quota, running_emulator
from toolkit.providers.emulator import stats

GROQ = "groq/llama-3.1-8b-instant"
FAKE_KEY = "sk-tierlab-isolation-FAKE-5c21e0"


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GROQ_API_KEY", FAKE_KEY)  # "with a real key set": the real arm is callable
    return tmp_path / "home"


@pytest.fixture()
def stub():
    server = ChatServer()
    yield server
    server.close()


def test_real_arm_is_not_answered_from_the_emulated_arms_cache(stub, home):
    with running_emulator(GROQ, "echo") as emulator:
        emulated = get_chat_model(GROQ, base_url=emulator, emulated=True, temperature=0, max_tokens=16)
        assert emulated.invoke("capital of France?").content == "Echo: capital of France?"
    real = get_chat_model(GROQ, base_url=stub.url, temperature=0, max_tokens=16)
    answer = real.invoke("capital of France?")
    assert stub.total() == 1 and answer.content.startswith("stub answer")
    assert answer.response_metadata["tierlab_cached"] is False and answer.response_metadata["tierlab_emulated"] is False
    assert stub.auth == [f"Bearer {FAKE_KEY}"]  # the key really was set and sent to the real endpoint
    # ... and the other way round: the emulated arm is not answered from the real arm's cache.
    with running_emulator(GROQ, "echo") as emulator:
        again = get_chat_model(GROQ, base_url=emulator, emulated=True, temperature=0, max_tokens=16)
        assert again.invoke("capital of France?").content == "Echo: capital of France?"
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any("cache" in str(p) for p in files) and any("quota" in str(p) for p in files)
    assert not [p for p in files if FAKE_KEY.encode() in p.read_bytes()]


def _one_arm_spec(provider: str) -> str:
    return textwrap.dedent(f"""
        name: isolation
        sample_size: 2
        seed: 0
        methods: [closed_book]
        providers:
          - {{id: {GROQ}, params: {{temperature: 0, max_tokens: 16}}, {provider}}}
    """)


def test_runner_real_arm_after_an_emulated_run_calls_the_real_endpoint(stub):
    from toolkit.experiments.runner import run_experiment
    from toolkit.experiments.spec import parse_spec

    spec = _one_arm_spec
    emulated = run_experiment(parse_spec(spec("emulate: true, emulator_backend: echo")), progress=False)
    assert not emulated.errors and emulated.network_calls == 2
    real = run_experiment(parse_spec(spec(f"base_url: '{stub.url}'")), progress=False)
    assert not real.errors, real.errors
    assert stub.total() == 2 and real.network_calls == 2
    assert all(r.answer.text.startswith("stub answer") for r in real.records)


def test_runner_real_arm_after_an_emulated_daily_exhaustion_still_answers(stub):
    from toolkit.experiments.runner import run_experiment
    from toolkit.experiments.spec import parse_spec

    spent = _one_arm_spec("emulate: true, emulator_backend: echo, emulator_options: {daily_exhausted: 1}")
    emulated = run_experiment(parse_spec(spent), progress=False)
    [arm] = emulated.arms
    assert arm.answered == 0 and "daily quota" in arm.stopped
    real = run_experiment(parse_spec(_one_arm_spec(f"base_url: '{stub.url}'")), progress=False)
    assert not real.errors, real.errors
    assert stub.total() == 2 and [a.answered for a in real.arms] == [2]


def test_emulated_daily_exhaustion_does_not_block_the_real_endpoint(stub):
    from typer.testing import CliRunner

    from toolkit.cli import app

    with running_emulator(GROQ, "echo", daily_exhausted=1) as emulator:
        emulated = get_chat_model(GROQ, base_url=emulator, emulated=True)
        for _ in range(2):
            with pytest.raises(QuotaExhausted):
                emulated.invoke("hello")
        assert stats(emulator)["requests"] == 1  # the second was stopped by the (emulated) shared view
        real = get_chat_model(GROQ, base_url=stub.url)
        assert real.invoke("hello").content.startswith("stub answer") and stub.total() == 1
        listed = CliRunner().invoke(app, ["providers", "--provider", "groq"]).output
    lines = [line for line in listed.splitlines() if line.strip().startswith(("real", "emulated"))]
    [real_line] = [line for line in lines if line.strip().startswith(f"real {stub.url}")]
    [emulated_line] = [line for line in lines if line.strip().startswith("emulated")]
    assert "exhausted" not in real_line and "rpd=14399/14400" in real_line, listed
    assert "daily-exhausted" in emulated_line and "[server said: daily quota exhausted]" in emulated_line, listed
    assert remaining_quota(GROQ, stub.url)["rpd"] == 14399
    assert remaining_quota(GROQ)["rpd"] == 14400  # the real provider's own URL: untouched


def test_five_samples_at_temperature_07_are_five_calls_and_replay_per_sample(stub):
    from toolkit.strategies.cascade import sample_llm

    model = get_chat_model("local/smollm2-135m-instruct", base_url=stub.url, temperature=0.7, max_tokens=8)
    texts = [model.invoke("pick a number", sample=i).content for i in range(5)]
    assert stub.total() == 5 and len(set(texts)) == 5
    assert all("sample" not in body for body in stub.bodies)  # an index for the cache, never sent
    assert [model.invoke("pick a number", sample=i).content for i in range(5)] == texts  # replay, per sample
    assert stub.total() == 5
    # The cascade's self-consistency samples go through the same explicit argument.
    drawn = [sample_llm(model, 0.7, sample=i).invoke("another prompt").content for i in range(5)]
    assert stub.total() == 10 and len(set(drawn)) == 5


def test_samples_through_an_emulator_are_separate_calls():
    with running_emulator(GROQ, "echo") as emulator:
        model = get_chat_model(GROQ, base_url=emulator, emulated=True, temperature=0.7)
        for i in range(5):
            model.invoke("sample me", sample=i)
        model.invoke("sample me", sample=4)  # a repeat of one sample index is a replay
        assert stats(emulator)["requests"] == 5


@pytest.mark.slow
def test_five_samples_from_the_real_model_behind_an_emulator(local_llm_url):
    with running_emulator(GROQ, local_llm_url) as emulator:
        model = get_chat_model(GROQ, base_url=emulator, emulated=True, temperature=0.7, max_tokens=12)
        texts = [model.invoke("Write a short sentence about the sea.", sample=i).content for i in range(5)]
        assert stats(emulator)["requests"] == 5
    assert len(set(texts)) >= 2, texts  # sampled, not one answer replayed five times


def test_connection_refused_consumes_no_quota():
    url = refused_url()
    model = get_chat_model(GROQ, base_url=url, max_retries=2, backoff_s=0.01)
    for _ in range(2):  # two runs against an unreachable provider
        with pytest.raises(ProviderError):
            model.invoke("anyone there?")
    with pytest.raises(ProviderError):
        list(model.stream("streaming, anyone there?"))
    assert remaining_quota(GROQ, url)["rpd"] == 14400
    # The same endpoint once it answers: exactly one request is counted, so the figure above was measured.
    server = ChatServer(port=int(url.rsplit(":", 1)[1].split("/")[0]))
    try:
        model.invoke("anyone there now?")
        assert server.total() == 1 and remaining_quota(GROQ, url)["rpd"] == 14399
    finally:
        server.close()


def test_dns_failure_consumes_no_quota():
    url = "http://tierlab-unresolvable.invalid/v1"
    with pytest.raises(ProviderError):
        get_chat_model(GROQ, base_url=url, max_retries=1, backoff_s=0.01).invoke("hello?")
    assert remaining_quota(GROQ, url)["rpd"] == 14400


def test_a_429_still_counts_as_a_request():
    """Providers count rate-limited requests: the client keeps them (only never-sent attempts are refunded)."""
    with running_emulator(GROQ, "echo", daily_exhausted=1) as emulator:
        with pytest.raises(QuotaExhausted):
            get_chat_model(GROQ, base_url=emulator).invoke("hello")
        assert remaining_quota(GROQ, emulator)["rpd"] == 14399


def test_fault_injection_arms_bypass_the_cache_unless_asked():
    def answers_for_two_identical_calls(emulator: str, cache) -> int:
        """Answers the emulator gave (admitted minus injected 5xx) for two identical invokes."""
        def served() -> int:
            counters = stats(emulator)
            return counters.get("admitted", 0) - counters.get("fault_5xx", 0)

        before = served()
        model = get_chat_model("local/smollm2-135m-instruct", base_url=emulator, emulated=True, cache=cache,
                               max_retries=10, backoff_s=0.01)
        assert model.invoke(f"the same call, cache={cache}").content == model.invoke(f"the same call, cache={cache}").content
        return served() - before

    with running_emulator("local/smollm2-135m-instruct", "echo", faults="5xx:0.3", seed=1) as emulator:
        assert answers_for_two_identical_calls(emulator, True) == 2  # a replay would hide the faults
        assert answers_for_two_identical_calls(emulator, "always") == 1  # asked explicitly
        assert stats(emulator).get("fault_5xx", 0) > 0
    with running_emulator("local/smollm2-135m-instruct", "echo") as emulator:
        assert answers_for_two_identical_calls(emulator, True) == 1  # no faults: the cache is used


def test_a_spec_asks_for_the_cache_on_a_fault_arm_with_always():
    from toolkit.experiments.spec import ProviderSpec, SpecError, parse_spec

    assert ProviderSpec.model_validate({"id": GROQ, "emulate": True, "cache": "always"}).cache == "always"
    assert ProviderSpec.model_validate({"id": GROQ, "cache": False}).cache is False
    with pytest.raises(SpecError, match="cache"):
        parse_spec(f"name: x\nmethods: [closed_book]\nproviders: [{{id: {GROQ}, cache: sometimes}}]\n")


def test_emulated_answers_replay_across_emulator_restarts_only_with_the_same_options():
    calls = []
    for latency in ("0.01", "0.01", "0.02"):
        with running_emulator(GROQ, "echo", latency=latency) as emulator:
            get_chat_model(GROQ, base_url=emulator, emulated=True).invoke("restart me")
            calls.append(stats(emulator).get("requests", 0))
    assert calls == [1, 0, 1]  # new port, same options: replayed; other options: another endpoint


def test_state_keyed_the_old_way_is_never_read(stub, home):
    """A pre-endpoint quota view saying "exhausted" and a pre-endpoint cache entry for the same call are ignored."""
    from toolkit import paths
    from toolkit.providers.cache import ResponseCache
    from toolkit.records import Usage

    quota = paths.subdir("quota")
    (quota / "groq_llama-3.1-8b-instant.view.json").write_text(json.dumps(
        {"exhausted_until": time.time() + 86_400, "exhausted_what": "the daily quota (old state)"}))
    messages, params = [{"role": "user", "content": "old state"}], {"temperature": 0}
    old_key = hashlib.sha256(json.dumps({"provider": GROQ, "model": "llama-3.1-8b-instant", "messages": messages,
                                         "params": params}, sort_keys=True).encode()).hexdigest()
    ResponseCache().put(old_key, {"text": "stale answer from the old cache", "usage": Usage(calls=1).model_dump(),
                                  "provider": GROQ, "model": "llama-3.1-8b-instant"})
    answer = get_chat_model(GROQ, base_url=stub.url, temperature=0).invoke("old state")
    assert answer.content.startswith("stub answer") and stub.total() == 1


PARENT = textwrap.dedent("""
    import sys, time
    from toolkit.providers import running_emulator
    with running_emulator(sys.argv[1], "echo") as url:
        print(url, flush=True)
        time.sleep(600)
""")


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # exited, waiting to be reaped by whoever adopted it


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_emulator_ends_when_its_runner_is_killed_with_sigkill():
    parent = subprocess.Popen([sys.executable, "-c", PARENT, GROQ], stdout=subprocess.PIPE, text=True)
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(parent.stdout, selectors.EVENT_READ)
            assert sel.select(timeout=90), "the emulator did not come up"
        parent.stdout.readline()
        children = Path(f"/proc/{parent.pid}/task/{parent.pid}/children").read_text().split()
        [emulator_pid] = [int(pid) for pid in children]
        assert not _gone(emulator_pid)
    finally:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
    deadline = time.monotonic() + 15
    while not _gone(emulator_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = not _gone(emulator_pid)
    if alive:
        os.kill(emulator_pid, signal.SIGKILL)  # do not leave it behind for the next test
    assert not alive, "the emulator outlived its runner"

