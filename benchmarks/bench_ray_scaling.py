"""Ray scale-out: questions/min on 1 vs 2 nodes when the tier's limit is not the bottleneck, and quota adherence
when it is (issue 20).

A real Ray cluster on this machine (``tests/ray_cluster_support.py``, the helper the cluster tests use: head +
worker node, 1 CPU each, token auth, loopback only, each node with its own temp dir and TierLab home) runs the same experiment against the real emulator:

1. an open tier (echo backend, ``--latency`` per call standing in for a cloud API's response time): questions/min with
   the head alone, then again after adding the second node (fresh run folders, response cache off);
2. a tight tier (``--rpm`` per scaled minute, time scale 10) on both nodes: the server's 429 count and the admitted
   rate vs the limit, measured by the emulator itself (``/tierlab/stats``).

Usage: nice -n 10 .venv/bin/python benchmarks/bench_ray_scaling.py [--questions 24] [--latency 1.0] [--rpm 12]
Writes benchmarks/results/ray_scaling.json.
"""

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # ray_cluster_support: test scaffolding, not in the package

from benchmarks import report  # noqa: E402

CATALOG = """
version: 1
providers:
  groq:
    models:
      bench-open:
        checked: 2026-12-01
        context_window: 4096
        limits: {{rpm: 100000, rpd: 10000000, reset: utc-midnight}}
      bench-tight:
        checked: 2026-12-01
        context_window: 4096
        limits: {{rpm: {rpm}, rpd: 100000, reset: utc-midnight, time_scale: 10}}
"""
SPEC = """
name: {name}
sample_size: {n}
seed: 3
concurrency: {concurrency}
methods: [closed_book]
providers:
  - id: groq/{profile}
    emulate: true
    emulator_backend: echo
    cache: false
    concurrency: {concurrency}
    params: {{temperature: 0, max_tokens: 16}}
"""


def run(profile: str, n: int, concurrency: int, url: str, address: str, runs: Path, name: str) -> tuple[float, object]:
    from toolkit.experiments.components import Components
    from toolkit.experiments.runner import run_experiment
    from toolkit.experiments.spec import parse_spec

    class OwnEmulator(Components):
        @contextlib.contextmanager
        def emulator(self, provider):
            yield url

    spec = parse_spec(SPEC.format(name=name, n=n, concurrency=concurrency, profile=profile))
    started = time.monotonic()
    result = run_experiment(spec, ray_address=address, progress=False, components=OwnEmulator(),
                            runs_root=runs)
    return time.monotonic() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=24)
    parser.add_argument("--latency", type=float, default=1.0, help="emulated API response time per call (s)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rpm", type=int, default=12, help="tight tier's requests per scaled minute (6 s)")
    args = parser.parse_args()
    load0 = report.load_average()

    root = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    (root / "catalog.yaml").write_text(CATALOG.format(rpm=args.rpm))
    os.environ["TIERLAB_CATALOG"] = str(root / "catalog.yaml")
    os.environ["TIERLAB_HOME"] = str(root / "home-driver")
    import ray
    from ray_cluster_support import local_cluster

    with local_cluster() as cluster:
        cluster.add_node(root / "home-head")
        ray.init(address=cluster.address, log_to_driver=False)
        try:
            figures = measure(cluster, root, args)
        finally:
            ray.shutdown()
    report.write("ray_scaling", figures, goals_of(figures), load_at_start=load0)


def measure(cluster, root: Path, args) -> dict:
    """The open tier on the head alone, then on head + worker node; the tight tier on both."""
    from toolkit.providers.emulator import running_emulator, stats

    figures: dict = {}
    with running_emulator("groq/bench-open", "echo", latency=str(args.latency)) as url:
        warm, _ = run("bench-open", 4, args.concurrency, url, cluster.address, root / "warm1", "warm1")
        one, r1 = run("bench-open", args.questions, args.concurrency, url, cluster.address, root / "one", "one")
        cluster.add_node(root / "home-worker")
        run("bench-open", 4, args.concurrency, url, cluster.address, root / "warm2", "warm2")
        two, r2 = run("bench-open", args.questions, args.concurrency, url, cluster.address, root / "two", "two")
    assert len(r1.records) == len(r2.records) == args.questions, (r1.errors, r2.errors)
    figures["open_tier"] = {
        "questions": args.questions, "latency_s_per_call": args.latency, "concurrency": args.concurrency,
        "qpm_1_node": round(args.questions / one * 60, 1), "qpm_2_nodes": round(args.questions / two * 60, 1),
        "speedup_2_vs_1": round(one / two, 2), "wall_s_1_node": round(one, 1), "wall_s_2_nodes": round(two, 1),
    }
    tight_n = args.rpm * 3
    with running_emulator("groq/bench-tight", "echo") as url:
        wall, result = run("bench-tight", tight_n, args.concurrency, url, cluster.address, root / "tight", "tight")
        seen = {"requests": 0, "admitted": 0, "rate_limited": 0} | stats(url)  # only moved counters are sent
    scaled_minutes = wall * 10 / 60
    figures["tight_tier"] = {
        "limit_rpm": args.rpm, "time_scale": 10, "questions": tight_n, "answered": len(result.records),
        "server_429": seen["rate_limited"], "admitted": seen["admitted"], "wall_s": round(wall, 1),
        # the first window's burst is free at t=0; after it the rate is what the limiter sustains
        "sustained_rpm": round((seen["admitted"] - args.rpm) / scaled_minutes, 1),
        "share_of_limit": round((seen["admitted"] - args.rpm) / scaled_minutes / args.rpm, 2),
    }
    return figures


def goals_of(figures: dict) -> dict[str, dict]:
    open_tier, tight = figures["open_tier"], figures["tight_tier"]
    return {"questions/min 2 nodes / 1 node": report.goal(open_tier["speedup_2_vs_1"], ">= 1.5",
                                                           open_tier["speedup_2_vs_1"] >= 1.5),
            "server 429s at a 12 RPM tier": report.goal(tight["server_429"], "0", tight["server_429"] == 0),
            "sustained rate / limit": report.goal(tight["share_of_limit"], "0.6-1.05",
                                                  0.6 <= tight["share_of_limit"] <= 1.05),
            "answered / asked at the tight tier": report.goal(round(tight["answered"] / tight["questions"], 3), "1.0",
                                                              tight["answered"] == tight["questions"])}

if __name__ == "__main__":
    main()
