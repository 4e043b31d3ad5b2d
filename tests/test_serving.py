"""The real local server (vLLM on Ray Serve) through the clients researchers use. Model text is asserted
loosely (a 135M model), structure and status codes strictly. Every call keeps max_tokens tiny (~9 tok/s)."""

import json

import httpx
import pytest

from toolkit import serve

pytestmark = pytest.mark.slow
MODEL = "smollm2-135m-instruct"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def client(local_llm_url, local_llm_key):
    from openai import OpenAI

    return OpenAI(base_url=local_llm_url, api_key=local_llm_key, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def auth(local_llm_key) -> dict:
    return {"Authorization": f"Bearer {local_llm_key}"}


def test_models_lists_the_served_model(client):
    assert [m.id for m in client.models.list().data] == [MODEL]


def test_openai_chat(client):
    reply = client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=8, temperature=0)
    assert reply.choices[0].message.role == "assistant"
    assert "paris" in reply.choices[0].message.content.lower()
    assert 0 < reply.usage.completion_tokens <= 8 and reply.usage.prompt_tokens > 5


def test_openai_chat_streaming(client):
    stream = client.chat.completions.create(
        model=MODEL, messages=QUESTION, max_tokens=8, temperature=0, stream=True
    )
    pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert len(pieces) > 1
    assert "paris" in "".join(pieces).lower()


def test_completions(client):
    reply = client.completions.create(
        model=MODEL, prompt="The capital of France is", max_tokens=4, temperature=0
    )
    assert reply.choices[0].text.strip()
    assert reply.usage.completion_tokens <= 4


def test_langchain_chat_openai_invoke_and_stream(local_llm_url, local_llm_key):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model=MODEL, base_url=local_llm_url, api_key=local_llm_key, max_tokens=8, temperature=0)
    message = llm.invoke("What is the capital of France?")
    assert "paris" in message.content.lower()
    assert message.usage_metadata["output_tokens"] <= 8
    chunks = list(llm.stream("What is the capital of France?"))
    assert len(chunks) > 1 and "".join(c.content for c in chunks).strip()


def test_every_response_carries_its_cost(local_llm_url, auth):
    body = {"model": MODEL, "messages": QUESTION, "max_tokens": 4, "temperature": 0}
    reply = httpx.post(f"{local_llm_url}/chat/completions", json=body, headers=auth, timeout=120)
    assert reply.status_code == 200
    rate = float(reply.headers["x-tierlab-usd-per-hour"])
    busy = float(reply.headers["x-tierlab-busy-seconds"])
    cost = float(reply.headers["x-tierlab-cost-usd"])
    assert rate > 0 and busy > 0
    assert cost == pytest.approx(busy * rate / 3600, rel=1e-3, abs=1e-9)

    with httpx.stream(
        "POST", f"{local_llm_url}/chat/completions", json={**body, "stream": True}, headers=auth, timeout=120
    ) as r:
        assert r.headers["x-tierlab-usd-per-hour"] == reply.headers["x-tierlab-usd-per-hour"]
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    comment = lines[-2]
    assert comment.startswith(": x-tierlab-busy-seconds=")
    fields = dict(part.split("=") for part in comment[2:].split())
    assert float(fields["x-tierlab-cost-usd"]) == pytest.approx(
        float(fields["x-tierlab-busy-seconds"]) * rate / 3600, rel=1e-3, abs=1e-9
    )


def _alive(url: str, auth: dict) -> None:
    assert httpx.get(f"{url}/models", headers=auth, timeout=30).status_code == 200


def test_bad_requests_get_4xx_and_the_server_survives(local_llm_url, auth):
    url = f"{local_llm_url}/chat/completions"
    unknown = httpx.post(
        url, json={"model": "no-such-model", "messages": QUESTION, "max_tokens": 2}, headers=auth, timeout=60
    )
    assert 400 <= unknown.status_code < 500
    assert "no-such-model" in unknown.text
    _alive(local_llm_url, auth)

    too_long = [{"role": "user", "content": "word " * 3000}]
    long_reply = httpx.post(url, json={"model": MODEL, "messages": too_long, "max_tokens": 2}, headers=auth,
                            timeout=120)  # fmt: skip
    assert 400 <= long_reply.status_code < 500
    _alive(local_llm_url, auth)

    malformed = httpx.post(url, content=b'{"model": "x", "messages": [', timeout=60,
                           headers={"content-type": "application/json", **auth})  # fmt: skip
    assert 400 <= malformed.status_code < 500
    missing = httpx.post(url, json={"model": MODEL}, headers=auth, timeout=60)
    assert 400 <= missing.status_code < 500
    _alive(local_llm_url, auth)
    ok = httpx.post(url, json={"model": MODEL, "messages": QUESTION, "max_tokens": 2}, headers=auth, timeout=120)
    assert ok.status_code == 200 and json.loads(ok.text)["choices"]


def test_up_is_idempotent_and_status_reports_health(local_llm_server):
    if local_llm_server is None:
        pytest.skip("TIERLAB_TEST_LLM_URL: the server is not ours to manage")
    port = httpx.URL(local_llm_server.base_url).port
    again = serve.up(profile="cpu-smollm2", port=port, state_dir=local_llm_server.state_dir, progress=False)
    assert again.pid == local_llm_server.pid
    info = serve.status(state_dir=local_llm_server.state_dir, port=port)
    assert info["running"] and info["healthy"] and info["models"] == [MODEL]
    assert "serving cpu-smollm2" in serve.logs(state_dir=local_llm_server.state_dir, port=port, lines=10_000)


def test_up_refuses_a_port_used_by_someone_else(local_llm_url, tmp_path):
    port = int(local_llm_url.rsplit(":", 1)[1].split("/")[0])
    with pytest.raises(serve.ServeError, match=f"port {port} .* in use by another program"):
        serve.up(profile="cpu-smollm2", port=port, state_dir=tmp_path, progress=False)
    assert serve.down(state_dir=tmp_path, port=port) is False
