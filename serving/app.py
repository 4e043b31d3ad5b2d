"""Deploy serving profiles with ray.serve.llm on a private local Ray, and keep serving until SIGTERM.

``python -m serving.app --profile cpu-smollm2 --port 8000 --temp-dir DIR`` is what ``tierlab serve up`` runs in
a detached process. The app comes from ``serve_config`` (the same args KubeRay deploys), built with
``ray.serve.llm.build_openai_app``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from serving.config import serve_config

SERVER_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_agent_register_timeout_ms": "120000",
    # Ray Serve's high-throughput mode (gRPC between proxy and replicas, user code on the replica's own loop, no
    # router thread): what Ray's KubeRay guide "Enable High Throughput on Ray Serve" recommends, and what
    # k8s/base/rayservice.yaml sets too. Measured here (benchmarks/bench_serving.py) it gives the engine back part
    # of the CPU the Serve hops take on 2 cores. Its direct-ingress HTTP port binds the Serve host (127.0.0.1) and
    # carries the same API-key check (serving/ingress.py).
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    "RAY_SERVE_LOG_TO_STDERR": "1",  # keep replica logs in `tierlab serve logs` (the mode turns them off)
    # One fixed replica locally: the controller need not reconcile 10x a second (~0.03 core, 3% of the engine's).
    "RAY_SERVE_CONTROL_LOOP_INTERVAL_S": "1",
}
"""Environment every local server process needs: no hub downloads, a 1 GiB KV cache, patience for Ray's
dashboard agent, which a busy 2-core machine can take well over the default to start, and Serve tuned to take
as little CPU from the engine as it can. Ray's token auth and
loopback-only node come on top from ``toolkit.security.local_ray_env`` (``tierlab serve up`` sets them); ``run``
refuses to serve without them."""


def build_app(profiles: Sequence[str]):
    """The Serve application for ``profiles`` (what ``serve.run`` takes)."""
    from ray.serve.llm import build_openai_app

    app = serve_config(list(profiles))["applications"][0]
    return build_openai_app(app["args"])


def run(
    profiles: Sequence[str],
    *,
    port: int,
    temp_dir: str,
    host: str = "127.0.0.1",
    num_cpus: int = 2,
    object_store_mb: int = 256,
) -> None:
    """Start a private Ray head, deploy, then block until SIGTERM/SIGINT and shut Ray down cleanly."""
    for key, value in SERVER_ENV.items():
        os.environ.setdefault(key, value)
    import ray
    from ray import serve

    serve_config(list(profiles))  # validate before starting Ray: bad profiles fail fast
    _init_ray(temp_dir, num_cpus, object_store_mb)
    _check_private(host)
    stop, serving = threading.Event(), threading.Event()

    def on_signal(*_) -> None:
        if not serving.is_set():  # still deploying (the model loads for a minute): abort that, then shut down
            raise KeyboardInterrupt
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    try:
        serve.start(http_options={"host": host, "port": port})
        app = build_app(profiles)  # after ray.init: building would otherwise start a default Ray
        serve.run(app, name="tierlab-llm", route_prefix="/", blocking=False)
        serving.set()
        print(f"serving {', '.join(profiles)} at http://{host}:{port}/v1", flush=True)
        stop.wait()
    finally:
        print("shutting down", flush=True)
        if serving.is_set():  # a half-made deployment is not unwound: Ray's shutdown ends all of it
            serve.shutdown()
        ray.shutdown()


def _init_ray(temp_dir: str, num_cpus: int, object_store_mb: int, attempts: int = 5) -> None:
    """A private Ray head. Ray 2.60's raylet waits a fixed 15 s for the dashboard agent's port files (then
    aborts) and the driver 30 s for the raylet, which a busy 2-core machine can miss while the agent is still
    importing; a retry then finds warm caches and usually succeeds."""
    import ray

    for attempt in range(1, attempts + 1):
        try:
            ray.init(
                address="local",
                _node_ip_address="127.0.0.1",
                _temp_dir=temp_dir,
                num_cpus=num_cpus,
                include_dashboard=False,
                object_store_memory=object_store_mb * 1024 * 1024,
            )
            return
        except Exception as exc:  # ray raises a bare Exception for this
            if "timed out during startup" not in str(exc) or attempt == attempts:
                raise
            print(f"Ray start attempt {attempt} timed out (machine busy); retrying", flush=True)
            ray.shutdown()
            for pid in descendants(os.getpid()):  # the half-started node of this attempt
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(2)


def _check_private(host: str) -> None:
    """Stop here rather than serve from a Ray that others could reach: token auth on, node on loopback (Ray
    silently swaps 127.0.0.1 for the external address unless RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0)."""
    import ray

    problems = []
    if os.environ.get("RAY_AUTH_MODE") != "token":
        problems.append("RAY_AUTH_MODE is not 'token'")
    if ray.util.get_node_ip_address() != "127.0.0.1":
        problems.append(f"the Ray node listens on {ray.util.get_node_ip_address()}, not 127.0.0.1")
    if host not in ("127.0.0.1", "::1", "localhost"):
        problems.append(f"--host {host} is not loopback")
    if problems:
        ray.shutdown()
        raise SystemExit(
            "refusing to serve: " + "; ".join(problems) + ". Start the server with `tierlab serve up`, which sets "
            "RAY_AUTH_MODE=token, RAY_AUTH_TOKEN_PATH and RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0."
        )


def descendants(pid: int) -> list[int]:
    """PIDs below ``pid`` in the process tree (Linux /proc). Ray puts workers in their own sessions, so a
    process group does not reach them; their parentage does."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", action="append", required=True, help="serving profile (repeatable)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--temp-dir", required=True, help="Ray's temp/session dir (keep it short: socket paths)"
    )
    parser.add_argument("--num-cpus", type=int, default=2)
    args = parser.parse_args(argv)
    run(args.profile, port=args.port, host=args.host, temp_dir=args.temp_dir, num_cpus=args.num_cpus)


if __name__ == "__main__":
    main()
