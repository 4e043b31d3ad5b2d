"""Catalog, keys, client, cache/replay and fallback over real HTTP against the free-tier emulator on 127.0.0.1.

The emulator's text comes from its built-in echo backend here (fast); test_emulator.py also drives the real model.
"""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from toolkit.providers import (
    CatalogError,
    MissingKeyError,
    ProviderError,
    QuotaExhausted,
    get_chat_model,
    load_catalog,
    running_emulator,
)
from toolkit.providers.emulator import stats
from toolkit.records import Usage
from toolkit.registry import UnknownNameError

FAKE_KEY = "sk-tierlab-FAKE-7f3a9c1e55d2"

TEST_CATALOG = """
version: 1
providers:
  emu:
    name: Emulated test tier
    kind: free
    base_url: http://127.0.0.1:9/v1
    key_env: TIERLAB_TEST_KEY
    signup_url: https://example.invalid/signup
    dialect: groq
    models:
      open:
        checked: 2026-11-25
        context_window: 4096
        price: {input_per_m: 1.0, output_per_m: 2.0}
      tight:
        checked: 2026-11-25
        context_window: 4096
        limits: {rpm: 6, rpd: 1000, reset: utc-midnight, time_scale: 30}
      daily3:
        checked: 2026-11-25
        context_window: 4096
        limits: {rpd: 3, reset: utc-midnight}
  emugem:
    name: Emulated Gemini-style tier
    kind: free
    base_url: http://127.0.0.1:9/v1
    key_env: TIERLAB_TEST_KEY
    dialect: gemini
    models:
      flash:
        checked: 2026-11-25
        context_window: 4096
        limits: {rpm: 100, rpd: 1000, reset: pacific-midnight}
"""


@pytest.fixture(scope="module")
def catalog_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("catalog") / "catalog.yaml"
    path.write_text(TEST_CATALOG)
    return str(path)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch, catalog_file):
    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TIERLAB_CATALOG", catalog_file)
    monkeypatch.setenv("TIERLAB_TEST_KEY", FAKE_KEY)
    return tmp_path / "home"


@pytest.fixture(scope="module")
def open_emulator(catalog_file):
    with running_emulator("emu/open", "echo", catalog_path=catalog_file) as url:
        yield url


# --- catalog ------------------------------------------------------------------------------------------------


def test_catalog_covers_every_system_with_check_dates():
    catalog = load_catalog()
    providers = set(catalog.providers)
    assert {"groq", "openrouter", "gemini", "vertex", "mistral", "cerebras", "cloudflare", "hf", "cohere", "openai",
            "deepseek", "ai21", "github", "ollama", "oneapi", "local", "cluster"} <= providers
    groq = catalog.entry("groq/llama-3.1-8b-instant")
    assert (groq.limits.rpm, groq.limits.rpd, groq.limits.tpm, groq.limits.tpd) == (30, 14400, 6000, 500000)
    assert groq.limits.reset == "utc-midnight" and groq.price.input_per_m == 0.05
    assert catalog.entry("gemini/gemini-2.5-flash").limits.reset == "pacific-midnight"
    assert "no_stream_options" in catalog.entry("cohere/command-r7b-12-2024").quirks
    assert catalog.entry("github/openai/gpt-4o-mini").kind == "retired"
    assert catalog.entry("cloudflare/@cf/meta/llama-3.1-8b-instruct-fp8-fast").limits.neurons_per_day == 10000
    assert all(catalog.entry(i).checked for i in catalog.ids())


def test_local_entry_url_follows_env(monkeypatch):
    entry = load_catalog().entry("local/smollm2-135m-instruct")
    monkeypatch.delenv("TIERLAB_LOCAL_URL", raising=False)
    assert entry.resolved_base_url() == "http://127.0.0.1:8000/v1"
    monkeypatch.setenv("TIERLAB_LOCAL_URL", "http://127.0.0.1:8123/v1")
    assert entry.resolved_base_url() == "http://127.0.0.1:8123/v1"
    assert entry.price.usd_per_hour > 0


def test_ids_split_on_the_first_slash():
    entry = load_catalog().entry("openrouter/meta-llama/llama-3.3-70b-instruct:free")
    assert (entry.provider, entry.model) == ("openrouter", "meta-llama/llama-3.3-70b-instruct:free")


def test_typo_gets_did_you_mean():
    with pytest.raises(UnknownNameError, match="Did you mean 'groq/llama-3.1-8b-instant'"):
        get_chat_model("groq/llama-3.1-8b-instnt")


def test_user_override_merges_and_malformed_entries_fail_at_load(tmp_path):
    good = tmp_path / "mine.yaml"
    good.write_text("providers:\n  groq:\n    models:\n      llama-3.1-8b-instant:\n        limits: {rpm: 7}\n")
    catalog = load_catalog(good)
    assert catalog.entry("groq/llama-3.1-8b-instant").limits.rpm == 7
    assert catalog.entry("groq/llama-3.3-70b-versatile").limits.rpm == 30
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers:\n  groq:\n    models:\n      llama-3.1-8b-instant:\n        limits: {rpm: -1, rmp: 3}\n")
    with pytest.raises(CatalogError) as err:
        load_catalog(bad)
    assert "rpm" in str(err.value) and "rmp" in str(err.value) and "bad.yaml" in str(err.value)
    with pytest.raises(CatalogError, match="does not exist"):
        load_catalog(tmp_path / "missing.yaml")


# --- keys ---------------------------------------------------------------------------------------------------


def test_missing_key_names_the_env_var_and_signup_page(monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    model = get_chat_model("groq/llama-3.1-8b-instant", catalog_path=None)
    with pytest.raises(MissingKeyError) as err:
        model.invoke("hi")
    assert "GROQ_API_KEY" in str(err.value) and "https://console.groq.com/keys" in str(err.value)


def test_key_from_env_file(open_emulator, tmp_path, monkeypatch):
    monkeypatch.delenv("TIERLAB_TEST_KEY")
    env = tmp_path / ".env"
    env.write_text(f"TIERLAB_TEST_KEY={FAKE_KEY}\n")
    model = get_chat_model("emu/open", base_url=open_emulator, env_file=str(env), cache=False)
    assert model.invoke("from a dotenv").content == "Echo: from a dotenv"


# --- calls over HTTP ------------------------------------------------------------------------------------------


def test_invoke_reports_usage_cost_and_labels(open_emulator):
    model = get_chat_model("emu/open", base_url=open_emulator, emulated=True, max_tokens=16)
    answer = model.invoke("what is two plus two")
    meta = answer.response_metadata
    usage = Usage.from_message(answer)
    assert answer.content == "Echo: what is two plus two"
    assert usage.calls == 1 and usage.input_tokens > 0 and usage.output_tokens == 6
    assert usage.cost_usd == 0 and usage.shadow_cost_usd == pytest.approx((usage.input_tokens + 2 * 6) / 1e6)
    assert meta["tierlab_provider"] == "emu/open" and meta["tierlab_emulated"] is True
    assert meta["tierlab_ttft_s"] > 0 and meta["tierlab_switches"] == []
    assert answer.usage_metadata["output_tokens"] == 6


def test_stream_yields_text_then_usage(open_emulator):
    model = get_chat_model("emu/open", base_url=open_emulator, cache=False)
    chunks = list(model.stream("stream these words"))
    assert "".join(c.content for c in chunks) == "Echo: stream these words"
    usage = Usage.from_message(chunks[-1])
    assert usage.calls == 1 and usage.output_tokens == 4
    assert chunks[-1].response_metadata["tierlab_emulated"] is True  # from the emulator's response header


def test_cache_replay_makes_no_network_calls_and_is_identical(open_emulator, isolated):
    model = get_chat_model("emu/open", base_url=open_emulator, temperature=0)
    first = model.invoke("replay me")
    before = stats(open_emulator)["requests"]
    again = model.invoke("replay me")
    assert stats(open_emulator)["requests"] == before
    assert again.content == first.content and Usage.from_message(again).cached_calls == 1
    # Different parameters are a different call.
    model.invoke("replay me", temperature=0.5)
    assert stats(open_emulator)["requests"] == before + 1


def test_a_finished_experiment_replays_with_its_endpoint_unreachable(catalog_file, isolated):
    with running_emulator("emu/open", "echo", catalog_path=catalog_file) as url:
        first = get_chat_model("emu/open", base_url=url, temperature=0).invoke("replay me offline")
    offline = get_chat_model("emu/open", base_url=url, temperature=0)  # the same endpoint, now stopped
    assert offline.invoke("replay me offline").content == first.content
    elsewhere = get_chat_model("emu/open", base_url="http://127.0.0.1:9/v1", temperature=0, max_retries=0)
    with pytest.raises(ProviderError, match="could not reach"):  # another endpoint: never this one's answers
        elsewhere.invoke("replay me offline")


def test_errors_are_not_cached(catalog_file):
    with running_emulator("emu/open", "echo", catalog_path=catalog_file, faults="5xx:1") as url:
        model = get_chat_model("emu/open", base_url=url, max_retries=1, backoff_s=0.05)
        with pytest.raises(ProviderError, match="503"):
            model.invoke("fails")
        assert stats(url)["requests"] == 2  # one retry
        with pytest.raises(ProviderError):
            model.invoke("fails")
        assert stats(url)["requests"] == 4  # nothing was cached


def test_faults_are_retried_until_an_answer_comes(catalog_file):
    with running_emulator("emu/open", "echo", catalog_path=catalog_file, faults="5xx:0.3,truncate:0.3", seed=3) as url:
        model = get_chat_model("emu/open", base_url=url, cache=False, max_retries=8, backoff_s=0.05)
        for i in range(6):
            assert model.invoke(f"question {i}").content == f"Echo: question {i}"
        counters = stats(url)
        assert counters["fault_5xx"] + counters["fault_truncate"] > 0
        assert counters["requests"] == 6 + counters["fault_5xx"] + counters["fault_truncate"]


def test_timeouts_are_retried(catalog_file):
    with running_emulator("emu/open", "echo", catalog_path=catalog_file, faults="timeout:0.5", seed=1,
                          fault_timeout_s=3) as url:
        model = get_chat_model("emu/open", base_url=url, cache=False, timeout_s=0.3, max_retries=6, backoff_s=0.05)
        for i in range(2):
            assert model.invoke(f"q{i}").content == f"Echo: q{i}"
        assert stats(url).get("fault_timeout", 0) > 0


def test_truncated_stream_is_an_error_not_a_short_answer(catalog_file):
    with running_emulator("emu/open", "echo", catalog_path=catalog_file, faults="truncate:1") as url:
        model = get_chat_model("emu/open", base_url=url, cache=False)
        with pytest.raises(ProviderError, match="truncated"):
            list(model.stream("one two three four five six"))


def test_retry_after_is_honoured(catalog_file):
    """The client does not know the server's limit (emu/open); the emulator enforces emu/tight (6 per 2 s)."""
    from toolkit.providers.client import ProviderClient
    from toolkit.providers.limits import QuotaLimiter

    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        __import__("time").sleep(seconds)

    entry = load_catalog().entry("emu/open")
    with running_emulator("emu/tight", "echo", catalog_path=catalog_file) as url:
        client = ProviderClient(entry, base_url=url, sleep=sleep,
                                limiter=QuotaLimiter(entry.id, entry.limits, sleep=sleep))
        results = [client.complete([{"role": "user", "content": f"n{i}"}], {}) for i in range(8)]
        counters = stats(url)
    assert all(r.text == f"Echo: n{i}" for i, r in enumerate(results))
    assert sum(r.usage.rate_limited for r in results) == counters["rate_limited"] >= 1
    assert max(sleeps) >= 1  # the emulator's Retry-After (>= 1 s), slept before the retry
    assert counters["admitted"] == 8


def test_daily_quota_stops_at_once_and_says_when_it_resets(catalog_file):
    with running_emulator("emugem/flash", "echo", catalog_path=catalog_file, daily_exhausted=1) as url:
        model = get_chat_model("emugem/flash", base_url=url)
        with pytest.raises(QuotaExhausted) as err:
            model.invoke("hello")
        assert "resets at" in str(err.value) and "RESOURCE_EXHAUSTED" not in str(err.value)
        assert err.value.resets_at is not None
        assert stats(url)["requests"] == 1  # no retrying all day
        with pytest.raises(QuotaExhausted):
            model.invoke("hello again")
        assert stats(url)["requests"] == 1  # the shared view stops it before the network


def test_fallback_switches_on_exhaustion_and_records_it(catalog_file, open_emulator):
    with running_emulator("emugem/flash", "echo", catalog_path=catalog_file, daily_exhausted=1) as spent:
        model = get_chat_model(["emugem/flash", "emu/open"], base_url={"emugem/flash": spent, "emu/open": open_emulator})
        answer = model.invoke("who answers")
        assert answer.content == "Echo: who answers"
        meta = answer.response_metadata
        assert meta["tierlab_provider"] == "emu/open"
        [switch] = meta["tierlab_switches"]
        assert switch["from"] == "emugem/flash" and switch["to"] == "emu/open" and "QuotaExhausted" in switch["reason"]
        streamed = list(model.stream("stream fallback"))
        assert streamed[-1].response_metadata["tierlab_provider"] == "emu/open"


CALLER = textwrap.dedent("""
    import sys, time
    from toolkit.providers.catalog import load_catalog
    from toolkit.providers.client import ProviderClient
    client = ProviderClient(load_catalog().entry(sys.argv[1]), base_url=sys.argv[2])
    time.sleep(max(0.0, float(sys.argv[5]) - time.time()))  # all processes start calling together
    for i in range(int(sys.argv[3])):
        print(client.complete([{"role": "user", "content": f"{sys.argv[4]} {i}"}], {}).text, flush=True)
""")


def _callers(entry_id: str, url: str, per_process: int, processes: int, homes=None) -> list[subprocess.CompletedProcess]:
    envs = [dict(os.environ, TIERLAB_HOME=str(home)) for home in homes] if homes else [None] * processes
    # A common start time well after the slowest interpreter start-up on a loaded machine, so the load overlaps.
    start = str(time.time() + 15)
    procs = [subprocess.Popen([sys.executable, "-c", CALLER, entry_id, url, str(per_process), f"p{p}", start], env=envs[p],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for p in range(processes)]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=120), *p.communicate()) for p in procs]


def test_restart_remembers_daily_usage(open_emulator):
    [done] = _callers("emu/daily3", open_emulator, 3, 1)
    assert done.returncode == 0, done.stderr
    before = stats(open_emulator)["requests"]
    model = get_chat_model("emu/daily3", base_url=open_emulator, cache=False)
    with pytest.raises(QuotaExhausted, match="rpd"):
        model.invoke("a fourth call today")
    assert stats(open_emulator)["requests"] == before


def test_limits_hold_under_concurrent_load_from_several_processes(catalog_file, tmp_path):
    """3 processes x 4 calls against 6 per (scaled, 2 s) minute, sharing one limiter: every call succeeds and the
    server (almost) never has to say 429; the same load with a private limiter per process gets 429s."""
    with running_emulator("emu/tight", "echo", catalog_path=catalog_file) as url:
        results = _callers("emu/tight", url, 4, 3)
        shared = stats(url)
    assert all(r.returncode == 0 for r in results), [r.stderr[-500:] for r in results]
    assert sum(len(r.stdout.splitlines()) for r in results) == 12
    # Arrival jitter on a loaded 2-core machine can cost a rare 429 at a window edge; it is then retried.
    assert shared["admitted"] == 12 and shared.get("rate_limited", 0) <= 1, shared
    with running_emulator("emu/tight", "echo", catalog_path=catalog_file) as url:
        results = _callers("emu/tight", url, 4, 3, homes=[tmp_path / f"private{p}" for p in range(3)])
        private = stats(url)
    assert all(r.returncode == 0 for r in results)
    # Private limiters each believe they have the whole quota; they only learn from 429s and headers.
    assert private.get("rate_limited", 0) >= 2, private


def test_no_key_in_any_file_written(open_emulator, isolated, catalog_file):
    model = get_chat_model(["emugem/flash", "emu/open"],
                           base_url={"emugem/flash": "http://127.0.0.1:9/v1", "emu/open": open_emulator}, max_retries=0)
    model.invoke("leave no key behind")
    model.invoke("leave no key behind")
    with running_emulator("emugem/flash", "echo", catalog_path=catalog_file, daily_exhausted=1) as spent:
        with pytest.raises(QuotaExhausted) as err:
            get_chat_model("emugem/flash", base_url=spent).invoke("x")
    assert FAKE_KEY not in str(err.value)
    files = [p for p in isolated.rglob("*") if p.is_file()]
    assert any("cache" in str(p) for p in files) and any("quota" in str(p) for p in files)
    for path in files:
        assert FAKE_KEY.encode() not in path.read_bytes(), path
    assert os.environ["TIERLAB_TEST_KEY"] == FAKE_KEY


def test_the_local_tokenizer_loads_safely_when_arms_race_for_it():
    """Arms answer in threads; their first prompts load the local tokenizer at once. Two first imports of
    transformers racing each other failed with "cannot import name 'AutoTokenizer'" (seen in a tracked run)."""
    import subprocess
    import sys

    from toolkit import local_models

    if not local_models.is_prepared("smollm2-135m-instruct"):
        pytest.skip("the local model is not prepared (tierlab models prepare smollm2-135m-instruct)")
    code = (
        "import threading\n"
        "from toolkit.providers.context import local_counter\n"
        "from langchain_core.messages import HumanMessage\n"
        "out = []\n"
        "def go():\n"
        "    out.append(local_counter('smollm2-135m-instruct')([HumanMessage('Capital of France?')]))\n"
        "threads = [threading.Thread(target=go) for _ in range(4)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(len(out), len(set(out)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.split() == ["4", "1"], done.stderr[-2000:]
