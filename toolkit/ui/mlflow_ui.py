"""Find or start an MLflow UI for the store a run went to, on 127.0.0.1 only, and give the run's URL.

Why: a link to ``http://127.0.0.1:5000`` is wrong whenever no server runs there, or one runs for another store.
A server at a candidate port is reused only if it knows the run (run ids are unique, so that proves it serves the
same store); otherwise ``mlflow server`` is started with one worker and no job runner (~13 s, ~0.5 GB instead of
~37 s and 3.6 GB), bound to loopback, and stopped when the kernel exits. No ipywidgets here (``results.py`` wraps it).
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

PORTS = range(5000, 5050)
HOST = "127.0.0.1"
READY_TIMEOUT_S = 90.0

_started: dict[str, tuple[subprocess.Popen, int]] = {}  # tracking URI -> (server, port), this kernel's own


def _knows_run(base: str, run_id: str) -> bool:
    try:
        response = httpx.get(f"{base}/api/2.0/mlflow/runs/get", params={"run_id": run_id}, timeout=2)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((HOST, port)) == 0


def experiment_id(run_id: str, tracking_uri: str) -> str:
    from toolkit.tracking.client import client_for

    return client_for(tracking_uri).get_run(run_id).info.experiment_id


def run_page(base: str, experiment: str, run_id: str) -> str:
    return f"{base}/#/experiments/{experiment}/runs/{run_id}"


def server_for(run_id: str, tracking_uri: str, log_dir: Path | None = None) -> str:
    """Base URL of an MLflow UI showing ``run_id``: the remote server itself for an http(s) store, a running local
    server that knows the run, or one started here on the first free port of ``PORTS``."""
    if tracking_uri.startswith(("http://", "https://")):
        return tracking_uri.rstrip("/")
    own = _started.get(tracking_uri)
    if own is not None and own[0].poll() is None:
        return f"http://{HOST}:{own[1]}"
    free = None
    for port in PORTS:
        if not _port_in_use(port):
            free = free or port
        elif _knows_run(f"http://{HOST}:{port}", run_id):
            return f"http://{HOST}:{port}"
    if free is None:
        raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1} for mlflow ui; stop one and retry")
    return _start(tracking_uri, free, run_id, log_dir)


def _start(tracking_uri: str, port: int, run_id: str, log_dir: Path | None) -> str:
    from toolkit import paths

    log_path = (log_dir or paths.home()) / f"mlflow-ui-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", tracking_uri, "--host", HOST,
             "--port", str(port), "--workers", "1"],
            env=env, cwd=log_path.parent, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    _started[tracking_uri] = (server, port)
    base = f"http://{HOST}:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not _knows_run(base, run_id):
        if server.poll() is not None:
            raise RuntimeError(f"mlflow server exited ({server.returncode}); see {log_path}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"mlflow server not ready after {READY_TIMEOUT_S:.0f} s; see {log_path}")
        time.sleep(0.5)
    return base


def open_url(run_id: str, tracking_uri: str | None = None, log_dir: Path | None = None) -> str:
    """The URL of the run's page in an MLflow UI that is up now (starting one if needed)."""
    from toolkit import paths

    uri = tracking_uri or paths.mlflow_uri()
    return run_page(server_for(run_id, uri, log_dir), experiment_id(run_id, uri), run_id)


def stop_all() -> None:
    """Stop the servers this kernel started (by their PIDs), e.g. at exit."""
    for uri, (server, _port) in list(_started.items()):
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        _started.pop(uri, None)


atexit.register(stop_all)
