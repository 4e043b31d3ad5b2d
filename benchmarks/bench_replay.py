"""Replay of a finished experiment: model calls made (goal 0) and wall time vs the first run (goal <= 5%).

Runs one experiment spec twice in a fresh TIERLAB_HOME, with every model request going through a counting proxy on
127.0.0.1 in front of the local model server, so the call count is measured outside TierLab's own bookkeeping:

1. first run: answers every arm (model calls, retrieval ingest, judging, MLflow logging to a local SQLite store);
2. replay: the same spec again, in a NEW process (as `tierlab run` would be) -- everything comes from the run store;
3. the quickstart notebook executed headless (nbclient) on the same spec and home: time from kernel start to the
   first table (the cell that displays the summary), and the model calls it made (goal 0).
Writes ``benchmarks/results/replay.json``.

Usage (a model server must be up; its key, if any, from $TIERLAB_SERVE_API_KEY):
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
sys.path.insert(0, str(REPO))

from benchmarks import report  # noqa: E402


def counting_proxy(backend: str, port: int):
    """Forward /v1/* to ``backend``, counting chat completion requests."""
    counts = {"chat": 0}

    class Proxy(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _forward(self, body: bytes | None):
            target = backend.rstrip("/") + self.path.removeprefix("/v1")
            headers = {"Content-Type": "application/json"}
            if self.headers.get("Authorization"):  # the server's own key, passed through untouched
                headers["Authorization"] = self.headers["Authorization"]
            request = urllib.request.Request(target, data=body, method=self.command, headers=headers)
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
from toolkit.tracking import mlflow_logger
result = run_experiment(load_spec(sys.argv[1]), progress=False, log=mlflow_logger())
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
    parser.add_argument("--embedding-cache", help="an existing <TIERLAB_HOME>/cache/embeddings to reuse")
    args = parser.parse_args()
    load0 = report.load_average()

    import yaml

    from toolkit import security

    key = security.serve_api_key()  # the running server's key, from the caller's home, before the home changes
    home = Path(tempfile.mkdtemp(prefix="tierlab-bench-replay-"))
    os.environ.update(
        {
            **({security.SERVE_KEY_ENV: key} if key else {}),
            "TIERLAB_HOME": str(home),
            "TIERLAB_QUOTA_DIR": str(home / "quota"),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
    )
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    if args.embedding_cache:  # share already computed corpus vectors (the ingest is untimed either way)
        (home / "cache").mkdir()
        (home / "cache" / "embeddings").symlink_to(Path(args.embedding_cache).resolve())
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
    from toolkit.tracking import mlflow_logger

    spec = load_spec(spec_path)
    if any(needs_retriever(m) for m in spec.methods):  # the one-off corpus ingest is not part of either run
        warm = time.perf_counter()
        Components().retriever(spec)
        print(f"corpus ingest before the first run (untimed): {time.perf_counter() - warm:.0f} s")
    started = time.perf_counter()
    first = run_experiment(spec, progress=False, log=mlflow_logger())
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
    counts["chat"] = 0
    notebook_s, notebook_total_s = first_table_seconds(spec_path, args.sample_size, proxy)
    notebook_calls = counts["chat"]
    server.shutdown()
    ratio = round(replay["seconds"] / first_s, 4)
    figures = {"spec": Path(args.spec).name, "sample_size": args.sample_size, "arms": len(first.arms),
               "answers": len(first.records),
               "first_run": {"model_calls_proxy": first_calls, "model_calls_usage": first.network_calls,
                             "wall_s": round(first_s, 1)},
               "replay": {"model_calls_proxy": replay_calls, "model_calls_usage": replay["network_calls"],
                          "wall_s": round(replay["seconds"], 2), "identical_summary": same,
                          "same_mlflow_run": replay["mlflow_run_id"] == first.mlflow_run_id},
               "notebook_from_replay": {"time_to_first_table_s": notebook_s, "whole_notebook_s": notebook_total_s,
                                        "model_calls_proxy": notebook_calls}}
    goals = {"replay model calls": report.goal(replay_calls, "0", replay_calls == 0),
             "replay wall / first run": report.goal(ratio, "<= 0.05", ratio <= 0.05),
             "notebook replay model calls": report.goal(notebook_calls, "0", notebook_calls == 0)}
    report.write("replay", figures, goals, load_at_start=load0)
    print(f"(state kept in {home}; delete it when done)")


def first_table_seconds(spec_path: Path, sample_size: int, llm_url: str) -> tuple[float | None, float]:
    """Execute notebooks/01_quickstart.ipynb on ``spec_path`` (parameters injected like the notebook tests do):
    seconds from kernel start to the end of the first cell that displays a table, and for the whole notebook."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(REPO / "notebooks" / "01_quickstart.ipynb", as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    params = {"spec": str(spec_path), "sample_size": sample_size, "llm_url": llm_url, "run_now": True}
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in params.items())))
    marks: dict = {}

    def executed(cell, **_):
        html = [o for o in cell.get("outputs", []) if "<table" in str(o.get("data", {}).get("text/html", ""))]
        if html and "table" not in marks:
            marks["table"] = time.perf_counter()

    started = time.perf_counter()
    NotebookClient(nb, kernel_name="python3", timeout=900, on_cell_executed=executed,
                   resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    total = round(time.perf_counter() - started, 1)
    return (round(marks["table"] - started, 1) if "table" in marks else None), total


if __name__ == "__main__":
    main()
