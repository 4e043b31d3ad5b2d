"""Numbers that say what happened (issue 29, case 8): no reservation cost for an endpoint that never answered,
cached calls never counted as spent, every 429 counted (the daily-quota one too), network calls as the server saw
them, and a key a server echoes scrubbed from the stored answers and the response cache.

The endpoints are real HTTP servers on 127.0.0.1 that count what they receive (``servers.ChatServer``) or the
free-tier emulator; the runner is the real one.
"""

import pytest
from servers import ChatServer

from toolkit.experiments.runner import run_experiment
from toolkit.experiments.spec import parse_spec


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "home"))


def _spec(name: str, provider: str, methods: str = "[closed_book]", sample: int = 2) -> str:
    return (f"name: {name}\nsample_size: {sample}\nseed: 4\nconcurrency: 1\nmethods: {methods}\n"
            f"providers:\n  - {provider}\n")


class Refusing(ChatServer):
    """Answers the prompts in ``allowed``; every other request gets a 503 (counted as received)."""

    def __init__(self):
        super().__init__()
        self.allowed: set[str] | None = None
        self.refused = 0

    def status_for(self, prompt: str) -> int | None:
        if self.allowed is None or prompt in self.allowed:
            return None
        self.refused += 1
        return 503


def test_an_endpoint_that_never_answered_costs_no_reservation(tmp_path):
    server = ChatServer()
    server.status = 401  # up, but no call ever gets an answer
    try:
        spec = parse_spec(_spec("never-answered", f"id: local/smollm2-135m-instruct\n    base_url: {server.url}"))
        result = run_experiment(spec, progress=False)
    finally:
        server.close()
    (arm,) = result.arms
    assert arm.answered == 0 and server.total() == 2
    assert arm.cost.get("reservation_usd") is None and arm.cost.get("reservation_hours") is None, arm.cost
    assert not (tmp_path / "home" / "runs" / result.run_key / "reservations.jsonl").exists()


def test_failed_questions_count_what_the_server_received_and_never_a_cached_call():
    """CoVe's baseline is answered from the cache (filled by a closed-book run); its next call gets 503 twice (one
    retry): the server received 2 requests per question, and that is what the failed questions spent."""
    server = Refusing()
    try:
        provider = (f"id: local/smollm2-135m-instruct\n    base_url: {server.url}\n"
                    "    params: {temperature: 0, max_tokens: 16, max_retries: 1, backoff_s: 0.01}")
        run_experiment(parse_spec(_spec("fill-cache", provider)), progress=False)
        server.allowed = {" ".join(str(m["content"]) for m in body["messages"]) for body in server.bodies}
        before = server.total()
        result = run_experiment(parse_spec(_spec("cove-fails", provider, "[cove_joint]")), progress=False)
    finally:
        server.close()
    received = server.total() - before
    (arm,) = result.arms
    assert arm.answered == 0 and server.refused == received == 4, (server.refused, received)
    assert arm.cost["failed_questions"] == 2
    assert arm.cost["failed_calls"] == received  # not the 2 cached baselines
    assert arm.cost["network_calls"] == received and result.network_calls == received
    assert arm.cost["cached_calls"] == 2


def test_the_daily_quota_429_is_counted_as_a_429_and_a_network_call():
    provider = ("id: groq/llama-3.1-8b-instant\n    emulate: true\n    emulator_backend: echo\n"
                "    emulator_options: {daily_exhausted: 1}")
    result = run_experiment(parse_spec(_spec("daily-429", provider)), progress=False)
    (arm,) = result.arms
    assert arm.answered == 0 and "daily quota" in arm.stopped
    assert arm.cost["rate_limited"] == 1, arm.cost  # the 429 the server sent
    assert arm.cost["network_calls"] == 1 and result.network_calls == 1  # the request it received


class Echoing(ChatServer):
    """A server that echoes the Authorization header it received into its answer."""

    def reply(self, prompt: str) -> str:
        return f"Paris. (you sent {self.auth[-1]})"


def test_a_key_echoed_by_a_server_is_scrubbed_from_answers_and_cache(tmp_path, monkeypatch):
    secret = "gsk_echoed_key_0123456789abcdefghij"
    monkeypatch.setenv("GROQ_API_KEY", secret)
    server = Echoing()
    try:
        spec = parse_spec(_spec("echoed-key", f"id: groq/llama-3.1-8b-instant\n    base_url: {server.url}"))
        result = run_experiment(spec, progress=False)
        replay = run_experiment(spec.model_copy(update={"name": "echoed-key-replay"}), progress=False)
    finally:
        server.close()
    assert server.auth and all(secret in a for a in server.auth)  # the server did get (and echo) the key
    assert all("***" in r.answer.text for r in result.records + replay.records)
    home = tmp_path / "home"
    stored = [p for p in home.rglob("*") if p.is_file() and p.parent.name != "secrets"]
    assert any(p.is_relative_to(home / "cache") for p in stored)
    assert [p for p in stored if secret.encode() in p.read_bytes()] == []
