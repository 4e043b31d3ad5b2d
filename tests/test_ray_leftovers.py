"""After ``kill -9`` of ``tierlab run --ray-address local`` nothing of its private Ray is left (issue 29, case 9).

Ray's dashboard and runtime-env agents outlive a killed driver by minutes (re-parented to PID 1), and its
``tlray*`` temp folder stays. The next run reaps them, found by PID through that folder. The processes are
identified here independently: every process with a file open, or its command line, under the killed run's folder.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from servers import ChatServer


def _using(folder: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            paths = [f.path for f in proc.open_files()] + list(proc.info["cmdline"] or ())
        except psutil.Error:
            continue
        if any(str(folder) in path for path in paths):
            found.append(proc)
    return found


def test_the_next_run_reaps_what_a_killed_local_ray_run_left(tmp_path):
    server = ChatServer(delay_s=2.0)
    temp = Path(tempfile.mkdtemp(prefix="tlt", dir="/tmp"))  # short: Ray's socket paths must stay under 108 bytes
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"name: ray-kill\nsample_size: 6\nseed: 1\nconcurrency: 2\nmethods: [closed_book]\nproviders:\n"
                    f"  - id: local/smollm2-135m-instruct\n    base_url: {server.url}\n    cache: false\n")
    env = {**os.environ, "TIERLAB_HOME": str(tmp_path / "home"), "TMPDIR": str(temp)}
    command = [str(Path(sys.executable).parent / "tierlab"), "run", str(spec), "--ray-address", "local",
               "--no-track", "--quiet"]
    left: list[psutil.Process] = []
    try:
        first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while server.total() < 1:  # Ray is up and a question task is running
            assert first.poll() is None, first.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "no model call after 300 s"
            time.sleep(0.2)
        (folder,) = temp.glob("tlray*")
        left = [p for p in _using(folder) if p.pid != first.pid]
        assert any("Agent" in p.name() for p in left), [p.name() for p in left]
        first.kill()
        first.wait()

        asked = server.total()
        second = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        while server.total() == asked:  # the next run's Ray is up: what the killed one left must be gone by now
            assert second.poll() is None, second.stderr.read()[-3000:]
            assert time.monotonic() < deadline + 300, "the rerun made no model call"
            time.sleep(0.2)
        alive = [f"{p.pid} {p.name()}" for p in left if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert alive == [], alive
        assert second.wait(timeout=600) == 0, second.stderr.read()[-3000:]
        assert list(temp.glob("tlray*")) == []
    finally:
        for proc in left:
            if proc.is_running():
                proc.kill()
        server.close()
        shutil.rmtree(temp, ignore_errors=True)
