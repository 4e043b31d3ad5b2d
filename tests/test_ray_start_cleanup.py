"""A failed private Ray start must not leave its processes running (seen: GCS, dashboard and monitors of three
timed-out attempts still alive after the test that started them had failed)."""

import shutil
import subprocess
import sys
import tempfile

import psutil

from toolkit.experiments.ray_backend import _stop_leftovers


def _sleeper(tag: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", f"--temp-dir={tag}"])


def test_leftovers_of_a_failed_start_are_stopped_and_nothing_else():
    ours, theirs = tempfile.mkdtemp(prefix="tlray"), tempfile.mkdtemp(prefix="tlray")
    leftover, bystander = _sleeper(ours), _sleeper(theirs)
    try:
        _stop_leftovers(ours)
        assert leftover.wait(timeout=15) is not None
        assert psutil.pid_exists(bystander.pid) and bystander.poll() is None
    finally:
        for proc in (leftover, bystander):
            proc.kill()
            proc.wait()
        for folder in (ours, theirs):
            shutil.rmtree(folder)
