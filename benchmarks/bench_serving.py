"""Ray Serve + vLLM (``tierlab serve``) vs the bare vLLM OpenAI server on the same prepared model, in one run.

The two servers run one after the other (never both loaded: RAM/CPU), each on its own 127.0.0.1 port, with the
same engine flags and the same bounded workload: streaming chat requests at concurrency 1, 4 and 16 with a
fixed output length (``ignore_eos``), measuring output tokens/s and time to first token. Ratios are printed
side by side: throughput Ray/bare and TTFT bare/Ray, so 1.0 means "no overhead" and the goal is >= 0.90.

    .venv/bin/python benchmarks/bench_serving.py            # ~10-15 min on 2 cores
    .venv/bin/python benchmarks/bench_serving.py --ray-url http://127.0.0.1:8000/v1
        # reuse the running dev server (same profile); then the two are interleaved per level, since the
        # dev server stays loaded anyway, which cancels load drift on a shared machine
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from serving.app import SERVER_ENV
from serving.config import load_profile
from toolkit import local_models, serve

MODEL = "smollm2-135m-instruct"
PROFILE = "cpu-smollm2"
PROMPT = [{"role": "user", "content": "Tell me a short story about a cat."}]


async def _one(client: httpx.AsyncClient, url: str, max_tokens: int) -> tuple[float, int, float]:
    """(ttft_s, output_tokens, total_s) of one streaming request."""
    body = {"model": MODEL, "messages": PROMPT, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True,
            "stream": True, "stream_options": {"include_usage": True}}  # fmt: skip
    started = time.perf_counter()
    ttft, tokens = None, 0
    async with client.stream("POST", f"{url}/chat/completions", json=body) as resp:
        resp.raise_for_status()
        async for line in resp.aiter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line[len("data: ") :])
            if ttft is None and any(c.get("delta", {}).get("content") for c in chunk.get("choices", [])):
                ttft = time.perf_counter() - started
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    return (ttft or time.perf_counter() - started), tokens, time.perf_counter() - started


async def _level(url: str, concurrency: int, requests: int, max_tokens: int) -> dict:
    async with httpx.AsyncClient(timeout=600) as client:
        sem = asyncio.Semaphore(concurrency)

        async def bounded():
            async with sem:
                return await _one(client, url, max_tokens)

        started = time.perf_counter()
        results = await asyncio.gather(*(bounded() for _ in range(requests)))
        wall = time.perf_counter() - started
    return {"wall": wall, "tokens": sum(r[1] for r in results), "ttfts": [r[0] for r in results]}


def summarise(runs: list[dict]) -> dict:
    """Pool several runs of one level: tokens over wall time, TTFT percentiles over all requests."""
    ttfts = sorted(t for run in runs for t in run["ttfts"])
    return {
        "tok_s": sum(r["tokens"] for r in runs) / sum(r["wall"] for r in runs),
        "ttft_p50": statistics.median(ttfts),
        "ttft_p95": ttfts[min(len(ttfts) - 1, round(0.95 * (len(ttfts) - 1)))],
        "requests": len(ttfts),
    }


def measure(url: str, levels: dict[int, int], max_tokens: int) -> dict[int, dict]:
    asyncio.run(_level(url, 1, 1, 4))  # warm-up, not measured
    out = {}
    for concurrency, requests in levels.items():
        out[concurrency] = summarise([asyncio.run(_level(url, concurrency, requests, max_tokens))])
        print(f"  c={concurrency:<3} {out[concurrency]}", flush=True)
    return out


def interleaved(ray_url: str, bare_url: str, levels: dict[int, int], max_tokens: int, rounds: int):
    """Alternate the two servers per level (ray-bare, bare-ray, ...) so load drift on a shared machine
    hits both alike. Used when the Ray server is an already running one (``--ray-url``)."""
    for url in (ray_url, bare_url):
        asyncio.run(_level(url, 1, 1, 4))  # warm-up
    ray, bare = {}, {}
    for concurrency, requests in levels.items():
        runs = {ray_url: [], bare_url: []}
        for r in range(rounds):
            for url in (ray_url, bare_url) if r % 2 == 0 else (bare_url, ray_url):
                runs[url].append(asyncio.run(_level(url, concurrency, requests, max_tokens)))
        ray[concurrency], bare[concurrency] = summarise(runs[ray_url]), summarise(runs[bare_url])
        print(f"  c={concurrency:<3} ray {ray[concurrency]}\n        bare {bare[concurrency]}", flush=True)
    return ray, bare


def run_ray(port: int, levels: dict[int, int], max_tokens: int) -> dict[int, dict]:
    with tempfile.TemporaryDirectory(prefix="tl-bench-") as state:
        handle = serve.up(PROFILE, port, state)
        try:
            return measure(handle.base_url, levels, max_tokens)
        finally:
            serve.down(state, port)


@contextlib.contextmanager
def bare_server(port: int):
    """``python -m vllm.entrypoints.openai.api_server`` with the profile's own engine flags; yields its URL."""
    cfg = load_profile(PROFILE)
    engine = cfg.engine_kwargs
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server",
           "--model", str(cfg.model_loading_config.model_source), "--served-model-name", MODEL,
           "--host", "127.0.0.1", "--port", str(port), "--dtype", engine["dtype"],
           "--max-model-len", str(engine["max_model_len"]), "--max-num-seqs", str(engine["max_num_seqs"])]  # fmt: skip
    if engine.get("enforce_eager"):
        cmd.append("--enforce-eager")
    log = Path(tempfile.mkstemp(prefix="tl-bench-vllm-", suffix=".log")[1])
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, **SERVER_ENV},
                                start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 900
        while not serve._generates(url, MODEL):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"bare vLLM did not start; see {log}:\n{log.read_text()[-2000:]}")
            time.sleep(2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--port", type=int, default=8020)
    parser.add_argument(
        "--ray-url", help="measure an already running `tierlab serve` (same profile) instead of starting one"
    )
    parser.add_argument("--rounds", type=int, default=2, help="with --ray-url: alternations per level")
    parser.add_argument("--levels", default="1:4,4:8,16:16", help="concurrency:requests,...")
    args = parser.parse_args()
    levels = {int(c): int(n) for c, n in (part.split(":") for part in args.levels.split(","))}
    local_models.prepare(MODEL)
    if args.ray_url:
        print(
            f"Ray Serve + vLLM at {args.ray_url} interleaved with bare vLLM ({args.rounds} rounds)",
            flush=True,
        )
        with bare_server(args.port + 1) as bare_url:
            ray, bare = interleaved(args.ray_url, bare_url, levels, args.max_tokens, args.rounds)
    else:
        print("Ray Serve + vLLM (ray.serve.llm, CostedIngress)", flush=True)
        ray = run_ray(args.port, levels, args.max_tokens)
        print("bare vLLM OpenAI server", flush=True)
        with bare_server(args.port + 1) as bare_url:
            bare = measure(bare_url, levels, args.max_tokens)
    print(f"\n{'conc':>4} | {'tok/s ray':>9} {'tok/s bare':>10} {'ratio':>6} | {'TTFT p50 ray/bare (s)':>22} {'ratio':>6}"
          f" | {'TTFT p95 ray/bare (s)':>22} {'ratio':>6}")  # fmt: skip
    for c in levels:
        r, b = ray[c], bare[c]
        print(f"{c:>4} | {r['tok_s']:9.2f} {b['tok_s']:10.2f} {r['tok_s'] / b['tok_s']:6.2f} | "
              f"{r['ttft_p50']:10.3f}/{b['ttft_p50']:<11.3f} {b['ttft_p50'] / r['ttft_p50']:6.2f} | "
              f"{r['ttft_p95']:10.3f}/{b['ttft_p95']:<11.3f} {b['ttft_p95'] / r['ttft_p95']:6.2f}")  # fmt: skip
    print("ratios: throughput ray/bare, TTFT bare/ray (1.0 = no overhead; goal >= 0.90)")


if __name__ == "__main__":
    main()
