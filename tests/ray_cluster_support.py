"""A multi-node Ray cluster on this machine, for rehearsing cluster runs: ``test_ray_cluster.py`` and
``benchmarks/bench_ray_scaling.py`` (which imports it from here). Test scaffolding, so it lives under ``tests/``
and does not ship in the package.

Each node is a real raylet with its own temp dir and its own TierLab home (``TIERLAB_HOME`` in the raylet's
environment, which its worker processes inherit), so code that silently relied on the driver's disk fails here as
it would on a real cluster. All nodes use token auth and listen on loopback only (``toolkit.security``): a
one-machine cluster is still a Ray cluster nobody else may use.

Nothing outside the cluster's own temp dir (under ``$TMPDIR``) is read or written, and that dir is removed on
shutdown. The nodes are started here as ``ray.cluster_utils.Cluster`` starts them (``ray._private.node.Node``) but
without what makes ``Cluster`` fail on a fresh machine: it writes the head's address to
``ray_current_cluster`` in Ray's default temp dir (``$TMPDIR/ray`` or ``/tmp/ray``), which does not exist there,
may belong to another run, and when left behind sends a later ``ray.init()`` to a dead cluster.

A busy 2-core machine (CI runs the rest of the suite meanwhile): every wait is a deadline Ray polls against, never
a sleep of ours, and nothing of the cluster runs at a lower priority than the processes it competes with.
- Ray starts worker processes at nice 15 (``worker_niceness``). Beside a dozen busy processes at nice 0 such a worker
  gets almost no CPU: one took over 15 min to import, and a driver's ``ray.init`` waits until the first worker has
  registered, so it hung. Here workers run at nice 0 (``RAY_worker_niceness``).
- The raylet waits a fixed 15 s (not configurable) for each agent (dashboard agent, runtime env agent) to write its
  port to a file, unless it was given the port; then it aborts the node. The dashboard agent writes its HTTP port
  only once it has imported and loaded all its modules: 34 s at a load average of 20. Every agent port is chosen
  here and given to the raylet, so it never waits (see :func:`_raylet_given_listen_port`).
- The remaining waits are Ray's own configuration, raised to :data:`DEADLINE_S`: the GCS writing its port
  (``RAY_gcs_server_port_wait_time_s``), the raylet registering with the GCS (``RAY_raylet_start_wait_time_s``),
  a worker process registering with its raylet (``RAY_worker_register_timeout_seconds``) and the raylet's requests
  to the runtime env agent (``RAY_agent_register_timeout_ms``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from toolkit import security
from toolkit.experiments.ray_backend import _stop_leftovers
from toolkit.providers.emulator import free_port

DEADLINE_S = 120
RAY_UNDER_LOAD = {
    "RAY_worker_niceness": "0",
    "RAY_gcs_server_port_wait_time_s": str(DEADLINE_S),
    "RAY_raylet_start_wait_time_s": str(DEADLINE_S),
    "RAY_worker_register_timeout_seconds": str(DEADLINE_S),
    "RAY_agent_register_timeout_ms": str(DEADLINE_S * 1000),
}
AGENT_PORTS = ("metrics_agent_port", "metrics_export_port", "dashboard_agent_listen_port", "runtime_env_agent_port")


class LocalCluster:
    """Head and worker nodes started by :meth:`add_node`; use through :func:`local_cluster`."""

    def __init__(self, root: Path):
        self.root = root
        self.head = None
        self.workers: list = []

    @property
    def address(self) -> str:
        """The head's GCS address, for ``ray.init(address=...)`` and ``run_experiment(ray_address=...)``."""
        return self.head.gcs_address

    def add_node(self, home: Path, *, num_cpus: int = 1):
        """Start the head (first call) or one more worker node; returns Ray's ``Node`` (its processes are in
        ``node.all_processes``)."""
        from ray._private.node import Node
        from ray._private.parameter import RayParams

        head = self.head is None
        temp_dir = self.root / ("head" if head else f"w{len(self.workers) + 1}")
        params = RayParams(
            num_cpus=num_cpus, num_gpus=0, object_store_memory=150 * 1024**2, node_ip_address="127.0.0.1",
            temp_dir=str(temp_dir), env_vars={"TIERLAB_HOME": str(home)}, min_worker_port=0, max_worker_port=0,
            **{name: free_port() for name in AGENT_PORTS},
            **({"include_dashboard": False} if head else
               {"gcs_address": self.address, "include_log_monitor": False, "node_manager_port": 0}),
        )
        try:
            with _raylet_given_listen_port(params.dashboard_agent_listen_port):
                node = Node(params, head=head, shutdown_at_exit=True, spawn_reaper=True)
        except BaseException:
            _stop_leftovers(str(temp_dir))  # Node() raised: its processes are found by PID through their temp dir
            raise
        if head:
            self.head = node
        else:
            self.workers.append(node)
        return node

    def shutdown(self) -> None:
        """Stop every node (workers first, by the PIDs Ray recorded) and remove the cluster's temp dir."""
        for node in [*self.workers, *([self.head] if self.head else [])]:
            node.kill_all_processes(check_alive=False, allow_graceful=True, wait=True)
        self.workers, self.head = [], None
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def local_cluster() -> Iterator[LocalCluster]:
    """A cluster with no nodes yet (call ``add_node``), under :func:`secured`; stopped and removed on exit.

    Call ``ray.init(address=cluster.address)`` inside, and ``ray.shutdown()`` before leaving."""
    # Short (mkdtemp in $TMPDIR): Ray's socket paths under a node's temp dir must stay under 108 bytes.
    cluster = LocalCluster(Path(tempfile.mkdtemp(prefix="rc")))
    with secured():
        try:
            yield cluster
        finally:
            cluster.shutdown()


@contextlib.contextmanager
def secured() -> Iterator[None]:
    """Token auth (the TierLab home's token), loopback-only nodes and :data:`RAY_UNDER_LOAD` for the nodes started
    inside; the environment is restored afterwards."""
    saved = dict(os.environ)
    os.environ.update(security.local_ray_env() | RAY_UNDER_LOAD)
    os.environ.pop(security.RAY_TOKEN_ENV, None)
    security._refresh_ray(single_machine=True)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        security._refresh_ray(single_machine=os.environ.get(security.SINGLE_MACHINE_ENV) == "0")


@contextlib.contextmanager
def _raylet_given_listen_port(port: int) -> Iterator[None]:
    """Give the raylet started inside the dashboard agent's HTTP port.

    Ray 2.60 passes the ports it was given to the raylet (``--metrics-agent-port``, ``--metrics_export_port``,
    ``--runtime_env_agent_port``) except this one, although the raylet has the flag for it
    (``raylet --helpfull``: ``--dashboard_agent_listen_port``, "0" meaning: wait for the agent's port file)."""
    from unittest import mock

    import ray._private.services as services
    from ray._private import ray_constants

    start_process = services.start_ray_process

    def start(command, process_type, *args, **kwargs):
        if process_type == ray_constants.PROCESS_TYPE_RAYLET:
            command = [*command, f"--dashboard_agent_listen_port={port}"]
        return start_process(command, process_type, *args, **kwargs)

    with mock.patch.object(services, "start_ray_process", start):
        yield
