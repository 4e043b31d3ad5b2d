"""The two-node Ray helper on a fresh machine (issue 24): Ray's default temp dir (``$TMPDIR/ray``, else
``/tmp/ray``) does not exist there, or it belongs to another run. The helper must work in both cases and leave
nothing behind: no temp dir, no process, no ``ray_current_cluster`` that would send a later ``ray.init()`` to a
dead cluster.

Each case runs the helper in a child process whose ``TMPDIR`` is an empty directory, so Ray's default temp dir is
``$TMPDIR/ray``: the shared ``/tmp/ray`` of other runs on this machine is never touched. Slow: two Ray nodes.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from toolkit.experiments.ray_backend import _stop_leftovers
from toolkit.paths import REPO_ROOT

pytestmark = pytest.mark.slow

CHILD = """
import json, os, sys, time
from pathlib import Path

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from ray_cluster_support import local_cluster

homes, started = Path(sys.argv[1]), time.monotonic()
def done(stage):  # where a slow or stuck start is, in the test's failure message
    print(f"{time.monotonic() - started:6.1f} s: {stage}", file=sys.stderr, flush=True)

with local_cluster() as cluster:
    cluster.add_node(homes / "head")
    done("head node up")
    cluster.add_node(homes / "worker")
    done("worker node up")
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        done("driver connected")

        @ray.remote(num_cpus=1)
        def home():
            return os.environ["TIERLAB_HOME"]

        alive = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
        pinned = [home.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False)).remote()
                  for n in alive]
        print(json.dumps({"nodes": len(alive), "homes": sorted(ray.get(pinned, timeout=300))}))
        done("a task ran on each node")
    finally:
        ray.shutdown()
done("cluster stopped")
"""


def _still_running(root: str, seconds: float) -> list[str]:
    """PIDs of the processes whose command line names ``root`` (every Ray process of a node names its temp dir),
    polled until there are none or ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while (left := subprocess.run(["pgrep", "-f", root], capture_output=True, text=True).stdout.split()) and \
            time.monotonic() < deadline:
        time.sleep(0.5)
    return left


@pytest.mark.parametrize("ray_default_dir", ["absent", "another run's"])
def test_two_nodes_start_and_leave_nothing_behind(ray_default_dir, tmp_path):
    # Short: Ray's socket paths under the node temp dirs must stay under 108 bytes.
    tmpdir = tempfile.mkdtemp(prefix="e")
    foreign = Path(tmpdir) / "ray" / "ray_current_cluster"
    if ray_default_dir == "another run's":
        foreign.parent.mkdir()
        foreign.write_text("127.0.0.1:1")  # a dead cluster someone else's run points at
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_TMPDIR", "RAY_ADDRESS")}
    env |= {"TMPDIR": tmpdir, "TIERLAB_HOME": str(tmp_path / "driver"),
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "tests")])}
    try:
        try:
            child = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], env=env, cwd=tmp_path,
                                   capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired as late:
            log = (late.stderr or b"").decode()[-3000:]
            pytest.fail(f"the helper was still running after 600 s:\n{log}")
        assert child.returncode == 0, child.stderr[-3000:]
        seen = json.loads(child.stdout.strip().splitlines()[-1])
        assert seen == {"nodes": 2, "homes": [str(tmp_path / "head"), str(tmp_path / "worker")]}
        assert not _still_running(tmpdir, 60), "Ray processes of the helper still running"
        left = sorted(str(p.relative_to(tmpdir)) for p in Path(tmpdir).rglob("*"))
        if ray_default_dir == "absent":
            assert left == [], left
        else:
            assert left == ["ray", "ray/ray_current_cluster"], left
            assert foreign.read_text() == "127.0.0.1:1", "another run's cluster address was overwritten"
    finally:
        _stop_leftovers(tmpdir)  # only if the assertions above failed: ours, found by their temp dir
        shutil.rmtree(tmpdir, ignore_errors=True)
