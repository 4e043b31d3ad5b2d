"""Secrets on disk, the environment of the local Ray, and the Serve API key check — without starting servers
(tests/test_security_live.py starts the real ones)."""

import os
import stat

import pytest

from toolkit import security


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(security.SERVE_KEY_ENV, raising=False)
    return tmp_path / "home"


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_secret_files_are_owner_only_random_and_stable(home):
    token = security.ray_token_file()
    assert token == home / "secrets" / "ray_auth_token"
    assert _mode(token) == 0o600 and _mode(home / "secrets") == 0o700
    value = token.read_text().strip()
    assert len(value) == 64 and int(value, 16) >= 0
    assert security.ray_token_file().read_text().strip() == value  # generated once, then reused
    assert security.serve_api_key(create=True) != value  # each secret is its own random value


def test_a_readable_secret_file_is_tightened(home):
    token = security.ray_token_file()
    token.chmod(0o644)
    security.ray_token_file()
    assert _mode(token) == 0o600


def test_serve_key_comes_from_env_then_file_else_none(home, monkeypatch):
    assert security.serve_api_key() is None  # no server ever made one: nothing to send
    assert not (home / "secrets" / "serve_api_key").exists()
    made = security.serve_api_key(create=True)
    assert security.serve_api_key() == made
    monkeypatch.setenv(security.SERVE_KEY_ENV, "from-env")
    assert security.serve_api_key(create=True) == "from-env"


def test_the_key_is_sent_to_loopback_servers_only(home):
    key = security.serve_api_key(create=True)
    assert security.serve_auth_headers("http://127.0.0.1:8000/v1") == {"Authorization": f"Bearer {key}"}
    assert security.serve_auth_headers("http://localhost:8000/v1") == {"Authorization": f"Bearer {key}"}
    assert security.serve_auth_headers("https://api.groq.com/openai/v1") == {}
    assert security.serve_auth_headers("http://192.0.2.2:8000/v1") == {}


def test_local_entry_of_the_catalog_sends_the_serve_key(home):
    from toolkit.providers.catalog import load_catalog
    from toolkit.providers.keys import api_key

    catalog = load_catalog()
    local = catalog.entry("local/smollm2-135m-instruct")
    assert api_key(local) is None  # a server without a key (e.g. an older one) still works
    key = security.serve_api_key(create=True)
    assert api_key(local) == key
    ollama = catalog.entry("ollama/llama3.1:8b")
    assert api_key(ollama) is None  # TierLab's key never goes to another self-hosted server


def test_local_ray_env_turns_token_auth_on_and_keeps_the_node_on_loopback(home):
    env = security.local_ray_env({"PATH": "/bin", "RAY_AUTH_TOKEN": "a-remote-clusters-token", "RAY_AUTH_MODE": "disabled"})
    assert env["RAY_AUTH_MODE"] == "token"
    assert env["RAY_AUTH_TOKEN_PATH"] == str(home / "secrets" / "ray_auth_token")
    assert _mode(home / "secrets" / "ray_auth_token") == 0o600
    assert env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0"
    assert "RAY_AUTH_TOKEN" not in env  # Ray would prefer it to the file
    assert env["PATH"] == "/bin"


def test_local_ray_block_restores_the_environment(home, monkeypatch):
    pytest.importorskip("ray")
    import ray._private.ray_constants as ray_constants

    monkeypatch.setenv("RAY_AUTH_TOKEN", "users-own")
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    before = ray_constants.ENABLE_RAY_CLUSTER
    with security.local_ray():
        assert os.environ["RAY_AUTH_MODE"] == "token" and "RAY_AUTH_TOKEN" not in os.environ
        assert ray_constants.ENABLE_RAY_CLUSTER is False
    assert os.environ["RAY_AUTH_TOKEN"] == "users-own" and "RAY_AUTH_MODE" not in os.environ
    assert ray_constants.ENABLE_RAY_CLUSTER is before


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("::ffff:127.0.0.1", True), ("127.0.1.1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("192.0.2.2", False), ("fd00::2", False), ("", False)],
)  # fmt: skip
def test_is_loopback(host, loopback):
    assert security.is_loopback(host) is loopback


def test_secret_names_stay_out_of_rays_runtime_env():
    for name in ("TIERLAB_SERVE_API_KEY", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_PASSWORD", "RAY_AUTH_TOKEN"):
        assert security.is_secret_name(name)
    for name in ("TIERLAB_HOME", "MLFLOW_TRACKING_URI", "HF_HUB_OFFLINE"):
        assert not security.is_secret_name(name)


def _app():
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def models(_):
        return JSONResponse({"data": [{"id": "m"}]})

    return Starlette(routes=[Route("/v1/models", models), Route("/v1/chat/completions", models, methods=["POST"])])


def test_ingress_key_check_rejects_missing_and_wrong_keys():
    from starlette.testclient import TestClient

    from serving.ingress import require_api_key

    with TestClient(require_api_key(_app(), "k" * 64)) as client:
        assert client.get("/v1/models").status_code == 401
        assert client.post("/v1/chat/completions", json={}).status_code == 401
        wrong = client.get("/v1/models", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        assert "TIERLAB_SERVE_API_KEY" in wrong.json()["error"]["message"]
        assert "k" * 64 not in wrong.text
        assert client.get("/v1/models", headers={"Authorization": f"Bearer {'k' * 64}"}).status_code == 200
        assert client.get("/v1/models", headers={"Authorization": "k" * 64}).status_code == 401  # no scheme


def test_ingress_without_a_key_is_unchanged():
    from serving.ingress import require_api_key

    app = _app()
    assert require_api_key(app, "") is app


@pytest.mark.filterwarnings("ignore:coroutine .*__del__.* was never awaited")
def test_costed_ingress_puts_the_check_where_serve_installs_the_app(monkeypatch):
    """Serve's replica wrapper installs the FastAPI app through ``_set_asgi_app``: if a Ray upgrade renames it,
    this fails instead of the endpoint silently opening up."""
    pytest.importorskip("ray.serve")
    from fastapi import FastAPI
    from ray.llm._internal.serve.core.ingress.ingress import make_fastapi_ingress
    from ray.serve._private.http_util import ASGIAppReplicaWrapper

    from serving.ingress import CostedIngress, _KeyGuard

    deployed = make_fastapi_ingress(CostedIngress)
    assert deployed._set_asgi_app is CostedIngress._set_asgi_app
    monkeypatch.setenv("TIERLAB_SERVE_API_KEY", "secret-key")
    replica = object.__new__(deployed)
    app = FastAPI()
    ASGIAppReplicaWrapper.__init__(replica, app)  # what the replica's __init__ runs
    assert isinstance(replica.app, _KeyGuard) and replica.app._app is app
    assert replica.app.add_exception_handler == app.add_exception_handler  # Serve adds its 503 handlers
