"""Access to the cluster's chroma: the auth proxy of k8s/base/chroma.yaml (real nginx in front of a real
`chroma run`) admits only the Secret's token, and TierLab's chroma client sends it from env alone."""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from k8s_support import one, rendered

from toolkit.retrieval.index import client
from toolkit.retrieval.settings import RetrieverSettings

TOKEN = "0123456789abcdef0123456789abcdef"
TOKEN_ENV = {
    "CHROMA_CLIENT_AUTH_PROVIDER": "chromadb.auth.token_authn.TokenAuthClientProvider",
    "CHROMA_CLIENT_AUTH_CREDENTIALS": TOKEN,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_chroma_client_sends_the_token_from_env_only_when_set(monkeypatch):
    """chromadb's Settings read CHROMA_CLIENT_AUTH_*; the cluster's JupyterLab sets them from the Secret."""
    seen: list[str | None] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            seen.append(self.headers.get("Authorization"))
            self.send_response(401)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        for env, expected in [({}, None), (TOKEN_ENV, f"Bearer {TOKEN}")]:
            for key in TOKEN_ENV:
                monkeypatch.delenv(key, raising=False)
            for key, value in env.items():
                monkeypatch.setenv(key, value)
            seen.clear()
            with pytest.raises(Exception):  # noqa: B017 (401 from the recorder, whatever chromadb calls it)
                client(RetrieverSettings(chroma_url=url)).list_collections()
            assert seen and set(seen) == {expected}, (env, seen)
    finally:
        server.shutdown()


@pytest.fixture
def chroma_behind_proxy(tmp_path):
    """`chroma run` on loopback and nginx with the ConfigMap's template, as in the chroma pod."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        # `make test` installs it, so in CI a missing nginx is a broken setup, not a reason to skip.
        (pytest.fail if os.environ.get("CI") else pytest.skip)(
            "nginx is not installed (apt-get install nginx-light); the proxy config cannot be run"
        )
    template = one(rendered("gpu"), "ConfigMap", "tierlab-chroma-proxy")["data"]["default.conf.template"]
    chroma_port, proxy_port = _free_port(), _free_port()
    conf = (
        template.replace(
            "${CHROMA_TOKEN}", TOKEN
        )  # what the nginx image's envsubst step does with the Secret
        .replace("listen 8000;", f"listen 127.0.0.1:{proxy_port};")
        .replace("127.0.0.1:8001", f"127.0.0.1:{chroma_port}")
    )
    (tmp_path / "server.conf").write_text(conf)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log; daemon off;\nevents {{}}\n"
        f"http {{ access_log off; client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/proxy;\n"
        f"include {tmp_path}/server.conf; }}\n"
    )
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    chroma_exe = Path(sys.executable).parent / "chroma"
    procs = [
        subprocess.Popen(
            [
                str(chroma_exe),
                "run",
                "--path",
                str(tmp_path / "data"),
                "--host",
                "127.0.0.1",
                "--port",
                str(chroma_port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        ),
        subprocess.Popen(
            [nginx, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)], stderr=subprocess.PIPE
        ),
    ]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{proxy_port}/api/v2/heartbeat", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                assert all(p.poll() is None for p in procs), "chroma or nginx exited"
                time.sleep(0.5)
        else:
            pytest.fail("chroma behind the proxy did not answer within 60 s")
        yield f"http://127.0.0.1:{proxy_port}"
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=20)


def _status(url: str, headers: dict[str, str]) -> int:
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10).status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.mark.slow
def test_the_chroma_proxy_admits_only_the_token(chroma_behind_proxy, monkeypatch):
    collections = (
        f"{chroma_behind_proxy}/api/v2/tenants/default_tenant/databases/default_database/collections"
    )
    assert _status(f"{chroma_behind_proxy}/api/v2/heartbeat", {}) == 200  # probes stay open
    assert _status(collections, {}) == 401
    assert _status(collections, {"Authorization": "Bearer wrong"}) == 401
    assert _status(collections, {"X-Chroma-Token": TOKEN[:-1]}) == 401
    assert _status(collections, {"Authorization": f"Bearer {TOKEN}"}) == 200
    assert _status(collections, {"X-Chroma-Token": TOKEN}) == 200
    for key, value in TOKEN_ENV.items():
        monkeypatch.setenv(key, value)
    db = client(RetrieverSettings(chroma_url=chroma_behind_proxy))
    db.get_or_create_collection("k8s-auth-check")
    assert [c.name for c in db.list_collections()] == ["k8s-auth-check"]
