"""``serve down`` stops a server caught half-started, and ``serve status`` says it is one (issue 29, case 3).

The real stack: ``tierlab serve up`` (vLLM on Ray Serve) on its own port and TierLab home, killed with ``kill -9``
while the model loads. ``serve status`` must report it as starting, with its processes; ``serve down`` must leave
none of them, vLLM's EngineCore and Worker included (they used to stay under PID 1, ~3.5 GB). Every process of the
server is collected independently of ``serve``: a watcher records each descendant of the ``up`` command as it
appears. Costs ~4 GB and both cores for about a minute; never touches another server (own port, own home).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow

REPLICA = "LLMServer"
"""The Serve replica that will start vLLM's engine: the server is caught after it exists and before the engine's
processes do, so they appear while ``serve down`` runs (the case that left them under PID 1)."""


class Watcher(threading.Thread):
    """Every process below ``root`` seen while it runs (polled): what a server started, re-parented or not."""

    def __init__(self, root: int):
        super().__init__(daemon=True)
        self.root, self.seen, self.done = psutil.Process(root), {}, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            try:
                for proc in self.root.children(recursive=True):
                    self.seen.setdefault((proc.pid, proc.create_time()), proc)
            except psutil.Error:
                pass
            for proc in list(self.seen.values()):  # children of processes already re-parented
                try:
                    for child in proc.children(recursive=True):
                        self.seen.setdefault((child.pid, child.create_time()), child)
                except psutil.Error:
                    continue

    def names(self) -> list[str]:
        found = []
        for proc in list(self.seen.values()):
            try:
                found.append(proc.name() + " " + " ".join(proc.cmdline())[:60])
            except psutil.Error:
                continue
        return found

    def alive(self) -> list[str]:
        return [f"{p.pid} {p.name()}" for p in list(self.seen.values())
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def _port() -> int:
    if os.environ.get("TIERLAB_TEST_HALFSTART_PORT"):
        return int(os.environ["TIERLAB_TEST_HALFSTART_PORT"])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tierlab(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "tierlab"), "serve", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_serve_down_stops_every_process_of_a_half_started_server():
    from toolkit import local_models

    local_models.prepare("smollm2-135m-instruct")  # a no-op once prepared
    home, port = Path(tempfile.mkdtemp(prefix="tlh", dir="/tmp")), _port()  # short: Ray's socket paths
    env = {**os.environ, "TIERLAB_HOME": str(home)}
    env.pop("TIERLAB_SERVE_API_KEY", None)  # its own key, under its own home
    up = subprocess.Popen([str(Path(sys.executable).parent / "tierlab"), "serve", "up", "--port", str(port)],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watcher = Watcher(up.pid)
    watcher.start()
    try:
        deadline = time.monotonic() + 400
        while not any(REPLICA in name for name in watcher.names()):
            assert up.poll() is None, up.stderr.read()[-3000:]
            assert time.monotonic() < deadline, f"no Serve replica after 400 s: {watcher.names()}"
            time.sleep(0.2)
        up.kill()  # the `up` command dies; the server goes on starting
        up.wait()

        problems = []  # both checks run, so one run shows every symptom
        status = json.loads(_tierlab("status", "--port", str(port), env=env).stdout)
        if not (status["running"] is True and status["healthy"] is False and status.get("phase") == "starting"
                and status.get("processes", 0) >= 3 and status.get("memory_mb", 0) > 100):
            problems.append(f"status of a half-started server: {status}")

        down = _tierlab("down", "--port", str(port), env=env)
        assert down.returncode == 0 and "stopped" in down.stdout, down.stderr
        deadline = time.monotonic() + 30
        while watcher.alive() and time.monotonic() < deadline:
            time.sleep(0.5)
        if watcher.alive():
            problems.append(f"left running after `serve down`: {watcher.alive()}")
        assert problems == []
        assert json.loads(_tierlab("status", "--port", str(port), env=env).stdout)["running"] is False
    finally:
        watcher.done.set()
        for proc in list(watcher.seen.values()):
            if proc.is_running():
                proc.kill()
        if up.poll() is None:
            up.kill()
        shutil.rmtree(home, ignore_errors=True)
