"""A multi-node Ray cluster on this machine, for rehearsing cluster runs (tests, ``bench_ray_scaling.py``).

Each node is a real raylet with its own temp dir and its own TierLab home (``TIERLAB_HOME`` is what its worker
processes inherit), so code that silently relied on the driver's disk fails here as it would on a real cluster. All
nodes use token auth and listen on loopback only (``toolkit.security``): a one-machine cluster is still a Ray
cluster nobody else may use.

Ray waits a fixed time for a new node's agents to come up; a busy 2-core machine can miss it. A failed start is
retried after stopping (by PID) every process that attempt left behind, so attempts do not pile up.
"""

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from toolkit import security

SLOW_START = {"RAY_agent_register_timeout_ms": "120000", "RAY_raylet_start_wait_time_s": "120"}


def _children() -> set[int]:
    import psutil

    return {p.pid for p in psutil.Process().children(recursive=True)}


def _stop(pids: set[int]) -> None:
    import psutil

    procs = [p for p in (psutil.Process(pid) for pid in pids if psutil.pid_exists(pid))]
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=10)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()


def _retried(start, attempts: int):
    for attempt in range(1, attempts + 1):
        before = _children()
        try:
            return start()
        except Exception as error:  # ray raises a bare Exception for a startup timeout
            _stop(_children() - before)
            if "timed out during startup" not in str(error) or attempt == attempts:
                raise
            time.sleep(5)
    return None


def add_node(cluster, home: Path, *, num_cpus: int = 1, attempts: int = 5):
    """Start the head (``cluster`` None: returns a new ``Cluster``) or one more node (returns the node)."""
    from ray.cluster_utils import Cluster

    temp_dir = Path("/tmp") / f"tl{'w' if cluster else 'h'}{os.getpid()}{time.monotonic_ns() % 10_000}"
    from toolkit.providers.emulator import free_port

    # Own agent ports: the head's default dashboard agent port (52365) is taken by any other Ray on the machine,
    # and known ports spare the raylet some of its fixed 15 s waits for the agents to report theirs.
    ports = ("dashboard_agent_listen_port", "metrics_agent_port", "metrics_export_port", "runtime_env_agent_port")
    args = {"num_cpus": num_cpus, "node_ip_address": "127.0.0.1", "temp_dir": str(temp_dir),
            **{name: free_port() for name in ports}}
    previous = os.environ.get("TIERLAB_HOME")
    os.environ["TIERLAB_HOME"] = str(home)  # the node's processes and their workers inherit it
    try:
        if cluster is None:
            return _retried(lambda: Cluster(initialize_head=True,
                                            head_node_args={**args, "include_dashboard": False}), attempts)
        return _retried(lambda: cluster.add_node(**args), attempts)
    finally:
        if previous is None:
            os.environ.pop("TIERLAB_HOME", None)
        else:
            os.environ["TIERLAB_HOME"] = previous


@contextlib.contextmanager
def secured() -> Iterator[None]:
    """Token auth (the TierLab home's token) and loopback-only nodes for the nodes started inside; the environment
    is restored afterwards."""
    saved = dict(os.environ)
    os.environ.update(security.local_ray_env() | SLOW_START)
    os.environ.pop(security.RAY_TOKEN_ENV, None)
    security._refresh_ray(single_machine=True)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        security._refresh_ray(single_machine=os.environ.get(security.SINGLE_MACHINE_ENV) == "0")
