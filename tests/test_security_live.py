"""Real servers, real sockets: what TierLab starts listens on loopback only, its Ray clusters refuse clients
without the token, and its OpenAI endpoint refuses requests without the API key.

The socket test starts `tierlab serve up` (or reuses the session's own server), an experiment whose arms run as
tasks on the runner's private Ray with an emulated free tier (echo) and the served model, and an `mlflow server`
the experiment logs to; while the experiment runs it lists, with psutil, every listening TCP socket of this
process's descendants. One exception is allowed, precisely: Ray Serve's per-replica inter-deployment gRPC
server, which Ray 2.60 binds to ``[::]`` with no setting to change it, provided it refuses calls without the Ray
token (see ``_serve_replica_grpc``). The token
tests use the Ray cluster behind the served model (the runner's private Ray starts the same way: tests/test_security.py
and the socket test check its environment and node address).
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from toolkit import paths, security, serve

pytestmark = pytest.mark.slow
MODEL = "smollm2-135m-instruct"


def _free_port(low: int, high: int) -> int:
    for port in range(low, high):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError(f"no free port in {low}-{high - 1}")


def _listening(root: int) -> set[tuple[str, str, int, str]]:
    """``(process name, ip, port, command line)`` of every listening TCP socket of ``root`` and descendants."""
    import psutil

    rows = set()
    top = psutil.Process(root)
    for proc in [top, *top.children(recursive=True)]:
        try:
            name, cmdline = proc.name(), " ".join(proc.cmdline())[:120]
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    rows.add((name, conn.laddr.ip, conn.laddr.port, cmdline))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return rows


@pytest.fixture(scope="module")
def served(local_llm_server):
    """The session's model server when this session started it, else our own on a free port in 8020-8030
    (when TIERLAB_TEST_LLM_URL points at a shared server)."""
    if local_llm_server is not None:
        yield local_llm_server
        return
    state_dir = tempfile.mkdtemp(prefix="tierlab-sec-serve-")
    port = _free_port(8020, 8031)
    try:
        yield serve.up(profile="cpu-smollm2", port=port, state_dir=state_dir, progress=False)
    finally:
        serve.down(state_dir=state_dir, port=port)
        shutil.rmtree(state_dir, ignore_errors=True)


def test_everything_tierlab_starts_listens_on_loopback_only(served, mlflow_server):
    from toolkit.experiments.runner import run_experiment
    from toolkit.experiments.spec import parse_spec
    from toolkit.tracking import mlflow_logger

    spec = parse_spec(
        "name: loopback-check\nsample_size: 2\nseed: 0\nmethods: [closed_book]\nproviders:\n"
        f"  - id: local/{MODEL}\n    base_url: {served.base_url}\n    cache: false\n"
        "    params: {temperature: 0, max_tokens: 4}\n"
        "  - id: groq/llama-3.1-8b-instant\n    emulate: true\n    emulator_backend: echo\n    cache: false\n"
    )  # fmt: skip
    seen: set = set()
    result = run_experiment(
        spec, ray_address="local", progress=False, log=mlflow_logger(mlflow_server),
        on_answer=lambda _: seen.update(_listening(os.getpid())),  # while the private Ray and emulator run
    )  # fmt: skip
    assert not result.errors, result.errors
    assert len(result.records) == 4

    listing = "\n".join(f"{name:<22} {ip}:{port}  {cmd}" for name, ip, port, cmd in sorted(seen))
    ports = {port for _, _, port, _ in seen}
    names = [name for name, *_ in seen]
    # The listing must contain what it is about, or an empty list would pass.
    assert int(httpx.URL(served.base_url).port) in ports, listing
    assert int(httpx.URL(mlflow_server).port) in ports, listing
    assert any("toolkit.providers.emulator" in cmd for *_, cmd in seen), listing
    assert names.count("gcs_server") >= 1 and names.count("raylet") >= 1, listing
    assert any(name.startswith("ray::") for name in names), listing  # Serve actors and the arms' workers
    print(f"listening sockets of everything started ({len(seen)}):\n{listing}")  # shown with pytest -rA
    exposed = sorted(row for row in seen if not security.is_loopback(row[1]) and not _serve_replica_grpc(row))
    assert not exposed, "listening beyond loopback:\n" + "\n".join(f"{n} {ip}:{p}  {c}" for n, ip, p, c in exposed)


def _serve_replica_grpc(row: tuple[str, str, int, str]) -> bool:
    """The one exception: Ray Serve 2.60 binds each replica's inter-deployment gRPC server to ``[::]:0``, hard-coded
    (ray/serve/_private/replica.py ``add_port_to_grpc_server(self._server, "[::]:0")``), with no setting to change it.
    Allowed only if it is that server and it refuses a call without the Ray token (Ray's auth interceptor)."""
    import grpc

    name, ip, port, _ = row
    if not name.startswith("ray::ServeReplica") or ip not in ("::", "0.0.0.0"):
        return False
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary("/ray.serve.ASGIService/HandleRequest")
        try:
            call(b"", timeout=30)
        except grpc.RpcError as err:
            return err.code() == grpc.StatusCode.UNAUTHENTICATED
    return False


def test_the_endpoint_wants_the_api_key(served):
    key = security.serve_api_key()
    assert key, "tierlab serve up generates a key"
    url = served.base_url
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
    assert httpx.get(f"{url}/models", timeout=30).status_code == 401
    assert httpx.post(f"{url}/chat/completions", json=chat, timeout=30).status_code == 401
    wrong = {"Authorization": "Bearer " + "0" * 64}
    assert httpx.post(f"{url}/chat/completions", json=chat, headers=wrong, timeout=30).status_code == 401
    good = {"Authorization": f"Bearer {key}"}
    assert httpx.post(f"{url}/chat/completions", json=chat, headers=good, timeout=600).status_code == 200
    root = url.removesuffix("/v1")
    assert httpx.get(f"{root}/-/healthz", timeout=30).status_code == 200  # Serve's own probe stays open

    from toolkit.providers import get_chat_model

    model = get_chat_model(f"local/{MODEL}", base_url=url, max_tokens=2, cache=False)
    assert model.invoke("Hi").content is not None  # the catalog's local entry sends the key by itself
    status = serve.status(state_dir=served.state_dir, port=int(httpx.URL(url).port))
    assert status["healthy"] and status["models"] == [MODEL]
    assert key not in str(status) and key not in serve.logs(state_dir=served.state_dir, lines=100_000)


@pytest.fixture(scope="module")
def token_ray(served) -> str:
    """GCS address of the Ray cluster behind ``tierlab serve up`` (found from its gcs_server's socket)."""
    import psutil

    for proc in psutil.Process(served.pid).children(recursive=True):
        if proc.name() == "gcs_server":
            ports = sorted(c.laddr.port for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN)
            assert len(ports) == 1, ports
            return f"127.0.0.1:{ports[0]}"
    raise AssertionError(f"no gcs_server below the server's pid {served.pid}")


def _client_env(tmp_path, **extra) -> dict:
    """This machine's environment without any Ray token, with an empty HOME (no ~/.ray/auth_token)."""
    extra = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", **extra}  # else Ray dials 127.0.0.1 as the external IP
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH") and k != security.SERVE_KEY_ENV}
    (tmp_path / "home").mkdir(exist_ok=True)
    return {**env, "HOME": str(tmp_path / "home"), "PYTHONPATH": str(paths.REPO_ROOT), **extra}


def _connect(address: str, env: dict) -> subprocess.CompletedProcess:
    code = f"import ray\nray.init(address={address!r})\nprint('CONNECTED', ray.cluster_resources().get('CPU'))"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)


def test_the_direct_ingress_port_wants_the_api_key_too(served):
    """Serve's high-throughput mode (serving/app.py SERVER_ENV) gives the ingress replica its own HTTP port
    (Ray's direct ingress, 30000-31000): it must bind loopback and carry the same API-key check as the proxy."""
    direct = {(ip, port) for _, ip, port, _ in _listening(served.pid) if 30000 <= port <= 31000}
    assert direct, "no direct-ingress port: RAY_SERVE_THROUGHPUT_OPTIMIZED is not in effect"
    good = {"Authorization": f"Bearer {security.serve_api_key()}"}
    for ip, port in direct:
        assert ip == "127.0.0.1", f"direct ingress on {ip}:{port}"
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=30).status_code == 401
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models", headers=good, timeout=30).status_code == 200


def test_a_ray_client_without_the_token_is_refused(token_ray, tmp_path):
    token = security.ray_token_file().read_text().strip()
    refused = _connect(token_ray, _client_env(tmp_path))
    assert refused.returncode != 0 and "CONNECTED" not in refused.stdout
    assert "InvalidAuthToken" in refused.stderr or "AuthenticationError" in refused.stderr, refused.stderr[-2000:]
    wrong = _connect(token_ray, _client_env(tmp_path, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="0" * 64))
    assert wrong.returncode != 0 and "CONNECTED" not in wrong.stdout
    # The same client with the token gets in: the refusals above are about the token, not the address.
    ok = _connect(token_ray, _client_env(tmp_path, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(security.ray_token_file())))
    assert ok.returncode == 0 and "CONNECTED" in ok.stdout, ok.stderr[-2000:]
    assert token not in refused.stderr + wrong.stderr + ok.stderr + ok.stdout


def test_ray_address_without_the_token_says_which_variable_to_set(token_ray, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: token-check\nsample_size: 1\nseed: 0\nmethods: [closed_book]\nproviders:\n"
        "  - id: groq/llama-3.1-8b-instant\n    emulate: true\n    emulator_backend: echo\n    cache: false\n"
    )
    env = _client_env(tmp_path, TIERLAB_HOME=str(tmp_path / "tierlab-home"))
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")  # connect_ray keeps a 127.0.0.1 address on loopback by itself
    run = subprocess.run(
        [str(Path(sys.executable).parent / "tierlab"), "run", str(spec), "--ray-address", token_ray, "--no-track",
         "--quiet"], env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-3000:]
    assert f"the Ray cluster at {token_ray} requires a token" in run.stderr
    assert "export RAY_AUTH_TOKEN=" in run.stderr and "Traceback" not in run.stderr
    assert security.ray_token_file().read_text().strip() not in run.stdout + run.stderr
