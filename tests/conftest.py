"""Shared fixtures. Servers are real and bound to 127.0.0.1; each is started once per test session and stopped
by PID. Set ``TIERLAB_TEST_LLM_URL`` to reuse an already running OpenAI-compatible model server (dev loop)."""

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from toolkit import paths

# tests/ is a package (see __init__.py), so pytest puts the repo root on sys.path, not tests/: keep the support
# modules (servers, review_run, test_ui's fixtures) importable by their plain names, as the test files import them.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from servers import free_port  # noqa: E402  (after the path line above)

# Every test session gets an empty TierLab home, so state a user (or an earlier run) left in ~/.tierlab — cached
# answers, today's quota, stored runs, indexes — can neither help nor break a test. Prepared models are the one
# thing shared, because converting them is slow and they are verified by checksum.
os.environ.setdefault("TIERLAB_MODELS", str(paths.models_dir()))
os.environ["TIERLAB_HOME"] = tempfile.mkdtemp(prefix="tierlab-test-home-")
atexit.register(shutil.rmtree, os.environ["TIERLAB_HOME"], ignore_errors=True)


# A free port unless one is asked for: two test sessions on one machine (a developer's and CI's) never fight over it.
LLM_PORT = int(os.environ.get("TIERLAB_TEST_LLM_PORT") or free_port())


@pytest.fixture(scope="session")
def local_llm_server():
    """``toolkit.serve.ServeHandle`` of the session's own model server (vLLM on Ray Serve, on a free port or
    ``$TIERLAB_TEST_LLM_PORT``), or ``None`` when ``TIERLAB_TEST_LLM_URL`` points at an already running server
    (export ``TIERLAB_SERVE_API_KEY`` too if that server has a key). Prepares the model if needed."""
    if os.environ.get("TIERLAB_TEST_LLM_URL"):
        _check_key_of(os.environ["TIERLAB_TEST_LLM_URL"])
        yield None
        return
    import shutil
    import tempfile

    from toolkit import local_models, security, serve

    local_models.prepare("smollm2-135m-instruct")  # a no-op once prepared
    # Not under pytest's basetemp: concurrent pytest runs prune old basetemps, Ray's live session dir included.
    state_dir = tempfile.mkdtemp(prefix="tierlab-test-serve-")
    try:
        handle = serve.up(profile="cpu-smollm2", port=LLM_PORT, state_dir=state_dir)
        # Its key, for clients with another TierLab home (notebooks, JupyterLab) and plain OpenAI clients.
        os.environ[security.SERVE_KEY_ENV] = security.serve_api_key()
        yield handle
    finally:
        serve.down(state_dir=state_dir, port=LLM_PORT)
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def local_llm_url(local_llm_server) -> str:
    """Base URL (``http://127.0.0.1:PORT/v1``) of the real local model served by vLLM on Ray Serve.

    The served model id is ``smollm2-135m-instruct``.
    """
    return os.environ.get("TIERLAB_TEST_LLM_URL") or local_llm_server.base_url


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """URL of a real ``mlflow server`` on 127.0.0.1 (SQLite store, one worker, no job runner: ~13 s, ~0.6 GB),
    started once per session and stopped by PID."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    root = tmp_path_factory.mktemp("mlflow")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = open(root / "server.log", "wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", str(root / "artifacts")],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, (root / "server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "mlflow server not up after 180 s"
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="session")
def local_llm_key(local_llm_url) -> str:
    """What to pass as ``api_key`` to a plain OpenAI client of ``local_llm_url`` (a placeholder for a server
    without a key, which accepts anything)."""
    from toolkit import security

    return security.serve_api_key() or "no-key-needed"


def _check_key_of(url: str) -> None:
    """Stop the session with the fix if the server given by TIERLAB_TEST_LLM_URL wants a key we do not have."""
    import httpx

    from toolkit import security

    if security.serve_api_key():
        return
    try:
        refused = httpx.get(f"{url.rstrip('/')}/models", timeout=30).status_code == 401
    except httpx.HTTPError:
        return  # down: the tests that need it say so
    if refused:
        pytest.exit(
            f"{url} wants an API key: export {security.SERVE_KEY_ENV}=$(cat <its TIERLAB_HOME>/secrets/serve_api_key)",
            returncode=2,
        )
