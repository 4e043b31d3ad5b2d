"""The second local engine: llama.cpp's ``llama-server`` behind ``tierlab serve up --engine llamacpp``.

The slow tests run the real server (built by ``make .llamacpp/bin/llama-server``; ``make test`` builds it, so in CI a
missing binary fails instead of skipping) on the packaged SmolLM2 GGUF, and a real experiment arm
``llamacpp/smollm2-135m-instruct`` against it. The fast tests cover the errors a user meets first.
"""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from serving import llamacpp
from tests.servers import free_port
from toolkit import security, serve
from toolkit.providers.catalog import load_catalog
from toolkit.providers.endpoint import Endpoint
from toolkit.providers.keys import api_key

MODEL = "smollm2-135m-instruct"


def test_a_missing_binary_names_the_build_command(tmp_path, monkeypatch):
    monkeypatch.setenv(llamacpp.BINARY_ENV, str(tmp_path / "nowhere" / "llama-server"))
    with pytest.raises(serve.ServeError, match=r"make \.llamacpp/bin/llama-server"):
        serve.up("cpu-smollm2", free_port(), tmp_path / "state", engine="llamacpp", progress=False)
    assert not (tmp_path / "state" / serve.STATE_FILE).exists()


def test_an_unknown_engine_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown engine 'sglang': use one of vllm, llamacpp"):
        serve.up("cpu-smollm2", free_port(), tmp_path, engine="sglang", progress=False)


def test_a_crash_at_load_is_retried_once_without_repacking(tmp_path, monkeypatch):
    """Some VMs advertise Intel AMX and fault on it: llama.cpp dies with SIGSEGV loading the model. A stand-in
    binary that crashes like that unless given --no-repack (then it exits 3, so the start fails for good): the
    second attempt must carry --no-repack, and a crash that persists must still end in a clear error."""
    log = tmp_path / "argv.log"
    fake = tmp_path / "llama-server"
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n"
                    "case \"$*\" in *--no-repack*) exit 3;; esac\nkill -SEGV $$\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv(llamacpp.BINARY_ENV, str(fake))
    with pytest.raises(serve.ServeError, match="exited during start-up"):
        serve.up("cpu-smollm2", free_port(), tmp_path / "state", engine="llamacpp", progress=False)
    attempts = log.read_text().splitlines()
    assert len(attempts) == 2
    assert "--no-repack" not in attempts[0] and attempts[1].endswith("--no-repack")


def test_a_base_model_is_served_with_plain_text_turns_and_a_chat_model_with_its_own_template(tmp_path, monkeypatch):
    """Gemma 3 270M is a base model whose GGUF carries no chat template: its turns go out as the plain "User: /
    Assistant:" text of serving/templates/completion.jinja and generation stops at the next "\nUser:". SmolLM2 keeps
    the template its GGUF carries. A stand-in binary records its arguments and exits, so each start fails once the
    command was built."""
    log = tmp_path / "argv.json"
    fake = tmp_path / "llama-server"
    fake.write_text(f"#!{sys.executable}\nimport json, sys\nopen({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\nsys.exit(3)\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv(llamacpp.BINARY_ENV, str(fake))
    for profile in ("cpu-gemma3", "cpu-smollm2"):
        with pytest.raises(serve.ServeError):
            serve.up(profile, free_port(), tmp_path / profile, engine="llamacpp", progress=False)
    gemma, smollm2 = (json.loads(line) for line in log.read_text().splitlines())
    assert gemma[gemma.index("--alias") + 1] == "gemma3-270m"
    assert gemma[gemma.index("--chat-template-file") + 1] == str(llamacpp.COMPLETION_TEMPLATE)
    assert gemma[gemma.index("--reverse-prompt") + 1] == "\nUser:"
    assert "--chat-template-file" not in smollm2 and "--reverse-prompt" not in smollm2
    assert load_catalog().entry("llamacpp/gemma3-270m").model == "gemma3-270m"


def test_served_entries_get_the_serve_key_and_their_own_endpoint(monkeypatch, tmp_path):
    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path))
    catalog = load_catalog()
    ours, default = catalog.entry(f"llamacpp/{MODEL}"), catalog.entry(f"local/{MODEL}")
    key = security.serve_api_key(create=True)
    assert api_key(ours) == key == api_key(default)
    url = "http://127.0.0.1:8080/v1"
    # Same URL, other engine: never one cache or quota (an answer from one engine replayed for the other).
    assert Endpoint.of(ours, url) != Endpoint.of(default, url)


@pytest.fixture(scope="module")
def llamacpp_server(tmp_path_factory):
    try:
        llamacpp.binary()
    except FileNotFoundError as exc:
        # `make test` builds it, so in CI a missing binary is a broken setup, not a reason to skip.
        (pytest.fail if os.environ.get("CI") else pytest.skip)(str(exc))
    state = tmp_path_factory.mktemp("llamacpp-state")
    port = free_port()
    handle = serve.up("cpu-smollm2", port, state, engine="llamacpp", progress=False)
    try:
        yield handle
    finally:
        assert serve.down(state, port)


@pytest.mark.slow
def test_llama_server_answers_with_the_key_only_on_loopback(llamacpp_server):
    import psutil

    url, key = llamacpp_server.base_url, security.serve_api_key()
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "What is the capital of France?"}],
            "max_tokens": 8, "temperature": 0}
    assert httpx.post(f"{url}/chat/completions", json=chat, timeout=60).status_code == 401
    good = httpx.post(f"{url}/chat/completions", json=chat, timeout=120,
                      headers={"Authorization": f"Bearer {key}"})
    assert good.status_code == 200 and good.json()["choices"][0]["message"]["content"].strip()
    proc = psutil.Process(llamacpp_server.pid)
    assert key not in " ".join(proc.cmdline()), "the API key must not be readable from the process list"
    listening = {c.laddr for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
    assert listening and all(addr.ip == "127.0.0.1" for addr in listening), listening
    assert serve.status(llamacpp_server.state_dir, int(url.rsplit(":", 1)[1].split("/")[0]))["engine"] == "llamacpp"


@pytest.mark.slow
def test_an_experiment_arm_runs_on_llama_cpp(llamacpp_server, tmp_path):
    """What a user does: point the catalog's llamacpp entry at the server and run a spec with it."""
    home = tmp_path / "home"
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "llamacpp-arm", "dataset": "factbook", "split": "dev", "sample_size": 2, "seed": 0,
        "providers": [f"llamacpp/{MODEL}"], "methods": ["closed_book"], "judge": {"provider": "rules"}}))
    env = {**os.environ, "TIERLAB_HOME": str(home), "TIERLAB_LLAMACPP_URL": llamacpp_server.base_url,
           security.SERVE_KEY_ENV: security.serve_api_key()}  # the key the server was started with
    code = ("import json, sys; from toolkit.experiments.runner import run_experiment; "
            "r = run_experiment(sys.argv[1], progress=False); "
            "print(json.dumps([[a.provider, a.answered, a.planned] for a in r.arms]))")
    out = subprocess.run([sys.executable, "-c", code, str(spec)], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [[f"llamacpp/{MODEL}", 2, 2]]
    answers = list(Path(home).rglob("answers.jsonl"))
    assert answers and all(json.loads(line)["answer"]["text"].strip() for line in answers[0].read_text().splitlines())


@pytest.mark.slow
def test_gemma_on_llama_cpp_ends_its_answer_where_the_few_shot_turns_do(tmp_path):
    """The base model, prompted the way TierLab's methods prompt (system + few-shot turns), answers and stops
    (finish_reason "stop", no invented next turn) instead of running on to max_tokens."""
    try:
        llamacpp.binary()
    except FileNotFoundError as exc:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(str(exc))
    port = free_port()
    handle = serve.up("cpu-gemma3", port, tmp_path / "state", engine="llamacpp", progress=False)
    try:
        messages = [
            {"role": "system", "content": "Answer the question correctly and briefly."},
            {"role": "user", "content": "What is the capital of Italy?"},
            {"role": "assistant", "content": "Rome."},
            {"role": "user", "content": "What is the capital of France?"},
        ]
        reply = httpx.post(
            f"{handle.base_url}/chat/completions", timeout=120,
            headers={"Authorization": f"Bearer {security.serve_api_key()}"},
            json={"model": "gemma3-270m", "messages": messages, "max_tokens": 48, "temperature": 0},
        ).json()["choices"][0]  # fmt: skip
        text = reply["message"]["content"]
        assert reply["finish_reason"] == "stop", text
        assert text.strip() and "User:" not in text and "Assistant:" not in text
    finally:
        assert serve.down(tmp_path / "state", port)
