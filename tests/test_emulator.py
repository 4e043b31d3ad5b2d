"""The free-tier emulator over raw HTTP: provider headers and 429 bodies, auth, faults, and the real local model."""

import json
import re

import httpx
import pytest
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.providers import get_chat_model, running_emulator
from toolkit.providers.emulator import parse_faults, parse_latency, stats
from toolkit.records import Usage

CATALOG = """
version: 1
providers:
  groq:
    models:
      burst2:
        checked: 2026-11-25
        context_window: 4096
        limits: {rpm: 2, rpd: 100, tpm: 6000, reset: utc-midnight, time_scale: 10}
  openrouter:
    models:
      burst2:free:
        checked: 2026-11-25
        context_window: 4096
        limits: {rpm: 2, rpd: 50, reset: utc-midnight, time_scale: 10}
"""

AUTH = {"Authorization": "Bearer sk-emulator-test"}


def _ask(url: str, text: str = "hi", **extra) -> httpx.Response:
    body = {"model": "m", "messages": [{"role": "user", "content": text}], **extra}
    return httpx.post(f"{url}/chat/completions", json=body, headers=AUTH, timeout=30)


@pytest.fixture(scope="module")
def catalog_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("emu") / "catalog.yaml"
    path.write_text(CATALOG)
    return str(path)


def test_groq_profile_speaks_groq(catalog_file):
    with running_emulator("groq/burst2", "echo", catalog_path=catalog_file) as url:
        ok = _ask(url)
        assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"] == "Echo: hi"
        assert ok.headers["x-tierlab-emulated"] == "groq/burst2"
        assert ok.headers["x-ratelimit-limit-requests"] == "100"  # Groq's -requests headers are per day
        assert ok.headers["x-ratelimit-remaining-requests"] == "99"
        assert ok.headers["x-ratelimit-limit-tokens"] == "6000"
        _ask(url)
        limited = _ask(url)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        error = limited.json()["error"]
        assert error["code"] == "rate_limit_exceeded" and "requests per minute (RPM)" in error["message"]
        assert httpx.post(f"{url}/chat/completions", json={"messages": []}).status_code == 401
        assert stats(url)["rate_limited"] == 1


def test_openrouter_profile_429_body(catalog_file):
    with running_emulator("openrouter/burst2:free", "echo", catalog_path=catalog_file, daily_exhausted=1) as url:
        limited = _ask(url)
        assert limited.status_code == 429
        error = limited.json()["error"]
        assert "free-models-per-day" in error["message"] and error["metadata"]["headers"]["X-RateLimit-Remaining"] == "0"


def test_gemini_daily_exhausted_is_resource_exhausted():
    with running_emulator("gemini/gemini-2.5-flash", "echo", faults="daily-exhausted") as url:
        limited = _ask(url)
        [payload] = limited.json()
        assert limited.status_code == 429 and payload["error"]["status"] == "RESOURCE_EXHAUSTED"
        violation = payload["error"]["details"][0]["violations"][0]
        assert violation["quotaId"].startswith("GenerateRequestsPerDay") and violation["quotaValue"] == "250"


def test_stream_and_truncation_on_the_wire(catalog_file):
    with running_emulator("groq/burst2", "echo", catalog_path=catalog_file, truncate=1) as url:
        with httpx.stream("POST", f"{url}/chat/completions", headers=AUTH, timeout=30, json={
                "model": "m", "stream": True, "messages": [{"role": "user", "content": "a b c d e f"}]}) as answer:
            lines = [line for line in answer.iter_lines() if line.startswith("data:")]
        assert lines and "[DONE]" not in lines[-1]
        cut = _ask(url, "a b c d")
        with pytest.raises(json.JSONDecodeError):
            cut.json()


def test_bad_fault_and_latency_specs_are_clear():
    assert parse_faults("5xx:0.1,timeout:0.05,truncate:0.05,daily-exhausted") == {
        "5xx": 0.1, "timeout": 0.05, "truncate": 0.05, "daily-exhausted": 1.0}
    with pytest.raises(ValueError, match="unknown fault '5xxx'"):
        parse_faults("5xxx:0.1")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        parse_faults("5xx:2")
    assert parse_latency("0.3:0.1") == (0.3, 0.1)
    with pytest.raises(ValueError, match="SECONDS"):
        parse_latency("fast")
    with pytest.raises(ValueError, match="unknown emulator option.*latency"):
        with running_emulator("groq/llama-3.1-8b-instant", "echo", server_errors=0.1):
            pass


def test_cli_emulate_rejects_unknown_profile_and_lists_providers():
    runner = CliRunner()
    result = runner.invoke(app, ["emulate", "--profile", "groq/llama-3.1-8b-instantt", "--backend-url", "echo"])
    flat = re.sub(r"[│\s]+", " ", result.output)  # rich wraps the error in a box
    assert result.exit_code != 0 and "Did you mean 'groq/llama-3.1-8b-instant'" in flat
    listing = runner.invoke(app, ["providers", "--provider", "cohere"], env={"COHERE_API_KEY": ""})
    assert listing.exit_code == 0 and "COHERE_API_KEY MISSING" in listing.output and "rpm=20" in listing.output


@pytest.mark.slow
def test_emulated_groq_tier_generates_with_the_real_local_model(local_llm_url, tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path))
    monkeypatch.setenv("GROQ_API_KEY", "sk-emulator-test")
    with running_emulator("groq/llama-3.1-8b-instant", local_llm_url, latency="0.05") as url:
        model = get_chat_model("groq/llama-3.1-8b-instant", base_url=url, emulated=True, max_tokens=8, temperature=0)
        answer = model.invoke("What is the capital of France?")
        usage = Usage.from_message(answer)
        assert answer.content.strip() and usage.input_tokens > 5 and 0 < usage.output_tokens <= 8
        assert answer.response_metadata["tierlab_emulated"] is True
        assert usage.shadow_cost_usd > 0 and usage.cost_usd == 0
        chunks = list(model.stream("Name a colour."))
        assert "".join(c.content for c in chunks).strip()
        assert stats(url)["admitted"] == 2
        assert int(answer.response_metadata["tierlab_quota"]["x-ratelimit-remaining-requests"]) == 14399


@pytest.mark.slow
def test_local_self_hosted_entry_prices_busy_time(local_llm_url, tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path))
    model = get_chat_model("local/smollm2-135m-instruct", base_url=local_llm_url, max_tokens=4, cache=False)
    usage = Usage.from_message(model.invoke("Say hi."))
    assert usage.calls == 1 and usage.selfhosted_cost_usd > 0 and usage.shadow_cost_usd == 0
