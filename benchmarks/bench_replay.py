"""Replay of a finished experiment: model calls made (goal 0) and wall time vs the first run (goal <= 5%).

Runs one experiment spec twice in a fresh TIERLAB_HOME, with every model request going through a counting proxy on
127.0.0.1 in front of the local model server, so the call count is measured outside TierLab's own bookkeeping:

1. first run: answers every arm (model calls, retrieval ingest, judging, MLflow logging to a local SQLite store);
2. replay: the same spec again, in a NEW process (as `tierlab run` would be) -- everything comes from the run store.

Usage (the dev model server must be up):
    .venv/bin/python benchmarks/bench_replay.py [--spec experiments/quickstart.yaml] [--sample-size 3]
        [--backend http://127.0.0.1:8000/v1] [--methods closed_book,cove_joint]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def counting_proxy(backend: str, port: int):
    """Forward /v1/* to ``backend``, counting chat completion requests."""
    counts = {"chat": 0}

    class Proxy(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _forward(self, body: bytes | None):
            target = backend.rstrip("/") + self.path.removeprefix("/v1")
            request = urllib.request.Request(
                target, data=body, method=self.command, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=300) as response:
                data = response.read()
                self.send_response(response.status)
                for key in ("Content-Type", "x-tierlab-cost-usd"):
                    if response.headers.get(key):
                        self.send_header(key, response.headers[key])
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        def do_GET(self):
            self._forward(None)

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path.endswith("/chat/completions"):
                counts["chat"] += 1
            self._forward(body)

    server = ThreadingHTTPServer(("127.0.0.1", port), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, counts


REPLAY = """
import json, sys, time
started = time.perf_counter()
from toolkit.experiments.runner import run_experiment
from toolkit.experiments.spec import load_spec
result = run_experiment(load_spec(sys.argv[1]), progress=False)
print(json.dumps({"seconds": time.perf_counter() - started, "network_calls": result.network_calls,
                  "summary": [a.model_dump(mode="json") for a in result.arms], "mlflow_run_id": result.mlflow_run_id}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(REPO / "experiments" / "quickstart.yaml"))
    parser.add_argument("--sample-size", type=int, default=3)
    parser.add_argument("--backend", default=os.environ.get("TIERLAB_LOCAL_URL", "http://127.0.0.1:8000/v1"))
    parser.add_argument("--port", type=int, default=5090)
    parser.add_argument(
        "--methods", default=None, help="Comma-separated subset of the spec's methods (default: all)."
    )
    args = parser.parse_args()

    import yaml

    home = Path(tempfile.mkdtemp(prefix="tierlab-bench-replay-"))
    os.environ.update(
        {
            "TIERLAB_HOME": str(home),
            "TIERLAB_QUOTA_DIR": str(home / "quota"),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
    )
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    server, counts = counting_proxy(args.backend, args.port)
    proxy = f"http://127.0.0.1:{args.port}/v1"
    os.environ["TIERLAB_LOCAL_URL"] = proxy  # the catalog's local entry and the emulator's backend

    data = yaml.safe_load(Path(args.spec).read_text())
    data["sample_size"] = args.sample_size
    data["name"] = f"{data['name']}-bench-replay"
    if args.methods:
        wanted = args.methods.split(",")
        data["methods"] = [m for m in data["methods"] if (m if isinstance(m, str) else m["name"]) in wanted]
    spec_path = home / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(data, sort_keys=False))

    from toolkit.experiments.components import Components, needs_retriever
    from toolkit.experiments.runner import run_experiment
    from toolkit.experiments.spec import load_spec

    spec = load_spec(spec_path)
    if any(needs_retriever(m) for m in spec.methods):  # the one-off corpus ingest is not part of either run
        warm = time.perf_counter()
        Components().retriever(spec)
        print(f"corpus ingest before the first run (untimed): {time.perf_counter() - warm:.0f} s")
    started = time.perf_counter()
    first = run_experiment(spec, progress=False)
    first_s = time.perf_counter() - started
    first_calls = counts["chat"]

    counts["chat"] = 0
    replay = json.loads(
        subprocess.run(
            [sys.executable, "-c", REPLAY, str(spec_path)],
            check=True,
            env=os.environ,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    replay_calls = counts["chat"]
    server.shutdown()

    same = replay["summary"] == [{**a.model_dump(mode="json")} for a in first.arms]
    print(
        f"spec: {args.spec} (sample_size={args.sample_size}), arms: {len(first.arms)}, answers: {len(first.records)}"
    )
    print(f"{'':24}{'first run':>12}{'replay':>12}{'ratio':>10}")
    print(f"{'model calls (proxy)':24}{first_calls:>12}{replay_calls:>12}{'':>10}")
    print(f"{'model calls (usage)':24}{first.network_calls:>12}{replay['network_calls']:>12}{'':>10}")
    print(
        f"{'wall time (s)':24}{first_s:>12.1f}{replay['seconds']:>12.2f}{replay['seconds'] / first_s:>10.1%}"
    )
    print(f"identical summary: {same}; same MLflow run: {replay['mlflow_run_id'] == first.mlflow_run_id}")
    print(
        f"goals: replay calls 0 -> {'met' if replay_calls == 0 else 'MISSED'}; "
        f"replay time <= 5% -> {'met' if replay['seconds'] <= 0.05 * first_s else 'MISSED'}"
    )
    print(f"(state kept in {home}; delete it when done)")


if __name__ == "__main__":
    main()
