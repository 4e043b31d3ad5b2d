"""Find or start an MLflow UI for the store a run went to, on 127.0.0.1 only, and give the run's URL.

Why: a link to ``http://127.0.0.1:5000`` is wrong whenever no server runs there, or one runs for another store.
A server already serving the store is reused: one whose command line names the store (any port), or one at a
candidate port that knows the run (run ids are unique, so that proves it serves the same store); otherwise ``mlflow server`` is started with one worker and no job runner (~13 s, ~0.5 GB instead of
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


def _knows_run(base: str, run_id: str, timeout_s: float = 2) -> bool:
    try:
        response = httpx.get(f"{base}/api/2.0/mlflow/runs/get", params={"run_id": run_id}, timeout=timeout_s)
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


def _same_store(value: str, tracking_uri: str) -> bool:
    """``sqlite:////a/b.db`` and ``sqlite:///../b.db`` (relative to the process) name the same store; compared by
    the database file when both are SQLite URIs."""
    if value == tracking_uri:
        return True
    prefix = "sqlite:///"
    if value.startswith(prefix) and tracking_uri.startswith(prefix):
        return Path(value.removeprefix(prefix)).resolve() == Path(tracking_uri.removeprefix(prefix)).resolve()
    return False


def serving_ports(tracking_uri: str) -> list[int]:
    """Ports of the ``mlflow server``/``mlflow ui`` processes on this machine that serve ``tracking_uri`` (read
    from their command lines: ``--backend-store-uri`` and ``--port``), whatever port they chose."""
    import psutil

    ports = []
    for process in psutil.process_iter(["cmdline"]):
        args = [part for arg in process.info.get("cmdline") or []
                for part in (arg.split("=", 1) if arg.startswith("--") else [arg])]
        if not any(a in ("server", "ui") for a in args) or not any("mlflow" in a for a in args[:3]):
            continue
        options = dict(zip(args, args[1:], strict=False))
        store = options.get("--backend-store-uri")
        port = options.get("--port") or options.get("-p") or "5000"
        if store and _same_store(store, tracking_uri) and port.isdigit():
            ports.append(int(port))
    return ports


def server_for(run_id: str, tracking_uri: str, log_dir: Path | None = None) -> str:
    """Base URL of an MLflow UI showing ``run_id``: the remote server itself for an http(s) store, a local server
    already serving the store (found by its command line, on any port, or at a port of ``PORTS`` that knows the
    run), or one started here on the first free port of ``PORTS`` — never a second server for the same store."""
    if tracking_uri.startswith(("http://", "https://")):
        return tracking_uri.rstrip("/")
    own = _started.get(tracking_uri)
    if own is not None and own[0].poll() is None:
        return f"http://{HOST}:{own[1]}"
    for port in serving_ports(tracking_uri):
        if _knows_run(f"http://{HOST}:{port}", run_id, timeout_s=15):
            return f"http://{HOST}:{port}"
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
