"""Answering on Ray: a private local Ray (``ray_address="local"``) or a cluster (``ray://...``, ``host:port``).

Each question is a Ray task (``ray_tasks.py``) whose answer is streamed back and stored by the driver; quota is
one actor per endpoint (``ray_quota.py``). Nothing assumes a disk shared with the workers, and a URL only the
driver's machine can reach is refused before anything runs on a multi-node cluster.
"""

import contextlib
import os
import shutil
import time
from pathlib import Path

from toolkit import security
from toolkit.experiments.spec import ExperimentSpec


def _start_local_ray(attempts: int = 3) -> str:
    """A private local Ray (loopback only, token auth, own temp dir; call inside ``security.local_ray()``);
    returns the temp dir to remove after shutdown.

    A busy 2-core machine can miss Ray's fixed startup deadline while the dashboard agent is still importing;
    a retry finds warm caches and succeeds (the same remedy serving/ uses).
    """
    import tempfile

    import ray

    # Ray's own start-up deadlines, raised for a busy 2-core machine, and workers at nice 0: at Ray's default 15 a
    # worker beside a busy test suite took minutes to import and start-up timed out (tests/ray_cluster_support.py).
    os.environ.setdefault("RAY_agent_register_timeout_ms", "120000")
    os.environ.setdefault("RAY_raylet_start_wait_time_s", "120")  # the raylet registering with the GCS
    os.environ.setdefault("RAY_gcs_server_port_wait_time_s", "120")
    os.environ.setdefault("RAY_worker_register_timeout_seconds", "120")
    os.environ.setdefault("RAY_worker_niceness", "0")
    # Workers inherit this process's environment (secrets included); the runtime env, which Ray stores and
    # shows, carries only the non-secret settings.
    env = {k: v for k, v in os.environ.items()
           if k.startswith(("TIERLAB_", "HF_", "MLFLOW_")) and not security.is_secret_name(k)}  # fmt: skip
    reap_abandoned()
    temp_dir = tempfile.mkdtemp(prefix=TEMP_PREFIX)  # short: Ray's socket paths must stay under 108 bytes
    _claim(temp_dir)
    for attempt in range(1, attempts + 1):
        try:
            ray.init(
                address="local",
                _node_ip_address="127.0.0.1",
                num_cpus=2,
                include_dashboard=False,
                _temp_dir=temp_dir,
                log_to_driver=False,
                runtime_env={"env_vars": env},
            )
            security.check_private_ray()
            return temp_dir
        except Exception as error:  # ray raises a bare Exception for a startup timeout
            ray.shutdown()
            _stop_leftovers(temp_dir)
            if "timed out during startup" not in str(error) or attempt == attempts:
                shutil.rmtree(temp_dir, ignore_errors=True)
                raise
            time.sleep(2)
    return temp_dir


TEMP_PREFIX = "tlray"
OWNER_FILE = "tierlab-owner.json"
"""In a private Ray's temp dir: the driver that started it (pid and start time, so a reused pid is no owner)."""


UNCLAIMED_AGE_S = 3600
"""A temp dir without an owner file (an older TierLab's) is removed once this old and unused by any process."""


def _claim(temp_dir: str) -> None:
    import json

    import psutil

    me = psutil.Process()
    (Path(temp_dir) / OWNER_FILE).write_text(json.dumps({"pid": me.pid, "started": me.create_time()}))


def _abandoned(temp_dir: Path) -> bool:
    """Its driver is gone (a reused pid is not it); unclaimed dirs only when old and used by no process."""
    import json

    import psutil

    try:
        owner = json.loads((temp_dir / OWNER_FILE).read_text())
        return psutil.Process(owner["pid"]).create_time() != owner["started"]
    except FileNotFoundError:  # being created right now, or an older TierLab's
        from toolkit import processes

        return time.time() - temp_dir.stat().st_mtime > UNCLAIMED_AGE_S and not processes.using(temp_dir)
    except (ValueError, KeyError, psutil.Error):
        return True


def reap_abandoned() -> list[str]:
    """Stop what earlier private Rays whose driver died (``kill -9``) left, and remove their temp dirs.

    Ray's dashboard and runtime-env agents outlive a killed driver by minutes, re-parented to PID 1. Each private
    Ray's temp dir names its driver (``OWNER_FILE``); a dir whose driver is gone is reaped: its processes, found by
    PID through the dir (their command line or a file they hold open there), then the dir. Returns the dirs reaped.
    """
    import tempfile

    reaped = []
    for folder in sorted(Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*")):
        if folder.is_dir() and _abandoned(folder):
            _stop_leftovers(str(folder))
            shutil.rmtree(folder, ignore_errors=True)
            reaped.append(str(folder))
    return reaped


def _stop_leftovers(temp_dir: str) -> None:
    """Stop the Ray processes using ``temp_dir`` (``toolkit.processes``: by PID, through the folder), after a failed
    start (``ray.shutdown`` cannot: the driver never connected), a shutdown some agents outlive, or a killed
    driver."""
    from toolkit import processes

    processes.stop(processes.using(temp_dir))


def run_on_ray(spec, pending, store, ray_address, base_urls, cancel, on_answer, bars):
    """The pending questions as Ray tasks (``ray_tasks.py``); a local Ray started here is shut down afterwards."""
    import ray

    started = None
    with contextlib.ExitStack() as private:
        if not ray.is_initialized():
            if ray_address == "local":
                private.enter_context(security.local_ray())  # until after the shutdown below
                started = _start_local_ray()
            else:
                security.connect_ray(ray_address)
        try:
            return _ray_arms(spec, pending, store, base_urls, cancel, on_answer, bars)
        finally:
            if started:
                ray.shutdown()
                _stop_leftovers(started)  # agents that outlive the raylet's shutdown
                shutil.rmtree(started, ignore_errors=True)


def _ray_arms(spec, pending, store, base_urls, cancel, on_answer, bars):
    """Question tasks against one quota actor per endpoint (``ray_tasks.py``, ``ray_quota.py``)."""
    import uuid

    import ray

    from toolkit.experiments.ray_quota import cluster_quota
    from toolkit.experiments.ray_tasks import run_question_tasks

    check_reachable(spec, base_urls, [n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]])
    with cluster_quota(quota_endpoints(spec, base_urls)) as quota:
        return run_question_tasks(spec, pending, store, base_urls, quota, cancel, on_answer, bars, uuid.uuid4().hex)


def quota_endpoints(spec: ExperimentSpec, base_urls: dict) -> dict:
    """``{state name: (endpoint, limits, max_wait_s)}`` of every endpoint the run calls (providers, LLM judge)."""
    from toolkit.providers import load_catalog
    from toolkit.providers.endpoint import Endpoint

    catalog, found = load_catalog(), {}
    wanted = [(p.id, base_urls.get(p.name), p.emulate, p.params.get("max_wait_s", 600.0)) for p in spec.providers]
    wanted += [(j.provider, j.base_url, False, 600.0) for j in spec.judges if j.is_llm]
    for entry_id, url, emulated, max_wait_s in wanted:
        entry = catalog.entry(entry_id)
        endpoint = Endpoint.of(entry, url, emulated)
        found[endpoint.state_name()] = (endpoint, entry.limits, float(max_wait_s))
    return found


def check_reachable(spec: ExperimentSpec, base_urls: dict, node_hosts: list[str]) -> None:
    """A loopback URL means each worker's own machine: fine when every node is this machine, an error otherwise."""
    from urllib.parse import urlsplit

    from toolkit.experiments.spec import SpecError
    from toolkit.providers import load_catalog

    if all(security.is_loopback(host) for host in node_hosts):
        return
    catalog = load_catalog()
    for provider in spec.providers:
        url = base_urls.get(provider.name) or catalog.entry(provider.id).resolved_base_url()
        if security.is_loopback(urlsplit(url).hostname or ""):
            what = "its emulator" if provider.emulate else "its endpoint"
            raise SpecError(
                f"provider {provider.name}: {what} is at {url}, which on a multi-node Ray cluster "
                f"({len(set(node_hosts))} hosts: {sorted(set(node_hosts))[:4]}) means each worker's own machine. "
                "Name a URL every worker can reach in the spec's `base_url` (e.g. the RayService's Kubernetes "
                "Service, http://tierlab-llm-serve-svc.<namespace>.svc:8000/v1), "
                + ("or, for an emulated tier (it listens on the driver's loopback only), rehearse on a "
                   "single-machine Ray (`--ray-address local`)." if provider.emulate
                   else "or run on a single-machine Ray (`--ray-address local`).")
            )

