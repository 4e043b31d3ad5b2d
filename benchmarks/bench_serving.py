"""Ray Serve + vLLM (``tierlab serve``, the committed profile) vs the bare vLLM OpenAI server, same model and flags.

Rounds are interleaved: each round starts both servers one after the other (order alternates: ray-bare,
bare-ray, ...), measures time to ready (process start -> first one-token completion), then streaming chat
requests at concurrency 1, 4 and 16 with a fixed output length (``ignore_eos``): output tokens/s and time to first
token. Only one server is up at a time: a Ray Serve stack holds ~8 GB here and the machine is shared. Figures are
pooled over rounds; ratios are Ray/bare for tok/s and Ray minus bare for TTFT p50.
Goals: >= 0.95 of bare tok/s at each concurrency, TTFT p50 overhead <= 0.10 s at concurrency 1.

    .venv/bin/python benchmarks/bench_serving.py [--rounds 3] [--port 8030]
    .venv/bin/python benchmarks/bench_serving.py --ray-env RAYLLM_MODEL_RESPONSE_BATCH_TIMEOUT_MS=50  # diagnose

Ports: ``--port`` (Ray) and ``--port + 1`` (bare); never 8010 (the team's shared server). Both servers are stopped
by PID (process group + Ray's descendants) after each measurement.
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
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import report  # noqa: E402
from serving.app import SERVER_ENV, descendants  # noqa: E402
from serving.config import load_profile  # noqa: E402
from toolkit import local_models, security, serve  # noqa: E402

MODEL = "smollm2-135m-instruct"
PROFILE = "cpu-smollm2"
PROMPT = [{"role": "user", "content": "Tell me a short story about a cat."}]


async def _one(client: httpx.AsyncClient, url: str, max_tokens: int) -> tuple[float, int]:
    """(ttft_s, output_tokens) of one streaming request."""
    body = {"model": MODEL, "messages": PROMPT, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True,
            "stream": True, "stream_options": {"include_usage": True}}  # fmt: skip
    started = time.perf_counter()
    ttft, tokens = None, 0
    async with client.stream("POST", f"{url}/chat/completions", json=body) as resp:
        resp.raise_for_status()
        async for line in resp.aiter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line[len("data: "):])
            if ttft is None and any(c.get("delta", {}).get("content") for c in chunk.get("choices", [])):
                ttft = time.perf_counter() - started
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    return (ttft or time.perf_counter() - started), tokens


async def _level(url: str, concurrency: int, requests: int, max_tokens: int) -> dict:
    async with httpx.AsyncClient(timeout=600, headers=security.serve_auth_headers(url)) as client:
        sem = asyncio.Semaphore(concurrency)

        async def bounded():
            async with sem:
                return await _one(client, url, max_tokens)

        started = time.perf_counter()
        results = await asyncio.gather(*(bounded() for _ in range(requests)))
        wall = time.perf_counter() - started
    return {"wall": wall, "tokens": sum(r[1] for r in results), "ttfts": [r[0] for r in results]}


def pooled(runs: list[dict]) -> dict:
    """Tokens over wall time, TTFT percentiles over all requests of all rounds."""
    ttfts = sorted(t for run in runs for t in run["ttfts"])
    roles = sorted({role for run in runs for role in run["cpu_cores"]})
    cores = {role: round(statistics.mean(run["cpu_cores"].get(role, 0.0) for run in runs), 3) for role in roles}
    return {"tok_s": round(sum(r["tokens"] for r in runs) / sum(r["wall"] for r in runs), 2),
            "cpu_cores_by_role": {k: v for k, v in sorted(cores.items(), key=lambda kv: -kv[1]) if v >= 0.005},
            "ttft_p50_s": round(statistics.median(ttfts), 3),
            "ttft_p95_s": round(ttfts[min(len(ttfts) - 1, round(0.95 * (len(ttfts) - 1)))], 3),
            "requests": len(ttfts)}


ROLES = (("ProxyActor", "serve proxy"), ("Ingress", "serve ingress replica"),
         ("LLMServer", "LLM server replica (vLLM frontend)"), ("EngineCore", "vLLM engine core"),
         ("api_server", "vLLM API server (frontend)"), ("ServeController", "serve controller"),
         ("raylet", "raylet"), ("gcs_server", "gcs"), ("dashboard", "dashboard agent"), ("serving.app", "serving.app"))
"""Process titles (Ray names actor processes ``ray::<Actor>``; vLLM names its engine ``VLLM::EngineCore``) -> role."""


def _role(proc: psutil.Process) -> str:
    cmdline = proc.cmdline()
    title = " ".join(cmdline)
    found = next((role for key, role in ROLES if key in title), None)
    return found or (Path(cmdline[0].split()[0]).name[:60] if cmdline else proc.name())  # a name, not a machine path


def cpu_by_role(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) so far of the server ``pid`` and every process below it, by role."""
    out: dict[str, float] = {}
    for child in [pid, *descendants(pid)]:
        try:
            proc = psutil.Process(child)
            times = proc.cpu_times()
            role = _role(proc)
        except psutil.Error:
            continue
        out[role] = out.get(role, 0.0) + times.user + times.system
    return out


def measure(url: str, levels: dict[int, int], max_tokens: int, pid: int) -> dict[int, dict]:
    """Each level's run plus where the CPU went meanwhile: core-seconds per role, per second of wall time (1.0 =
    one core busy the whole time). On 2 cores whatever the serving stack burns beside the engine is taken from it."""
    asyncio.run(_level(url, 1, 1, 4))  # warm-up, not measured
    out = {}
    for c, n in levels.items():
        before = cpu_by_role(pid)
        run = asyncio.run(_level(url, c, n, max_tokens))
        after = cpu_by_role(pid)
        run["cpu_cores"] = {role: (after[role] - before.get(role, 0.0)) / run["wall"] for role in after}
        out[c] = run
    return out


def direct_ingress_url(pid: int) -> str:
    """The ingress replica's own HTTP port (Serve's direct ingress, 30000-31000, on in high-throughput mode): what
    HAProxy calls in Ray's KubeRay high-throughput setup, one Python hop (the Serve proxy) fewer."""
    for child in descendants(pid):
        try:
            for conn in psutil.Process(child).net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN and 30000 <= conn.laddr.port <= 31000:
                    return f"http://127.0.0.1:{conn.laddr.port}/v1"
        except psutil.Error:
            continue
    raise RuntimeError("no direct-ingress port: is RAY_SERVE_THROUGHPUT_OPTIMIZED on?")


@contextlib.contextmanager
def ray_server(port: int, extra_env: dict[str, str], direct: bool = False):
    """``tierlab serve up`` with the committed profile in a private state dir; yields (url, seconds to ready)."""
    saved = {k: os.environ.get(k) for k in extra_env}
    os.environ.update(extra_env)  # serve.up passes the environment on to Ray's processes
    state = tempfile.mkdtemp(prefix="tl-bench-ray-")
    try:
        for attempt in range(1, 4):  # Ray gives its raylet a fixed 30 s to register: a loaded machine can miss it
            started = time.monotonic()
            try:
                handle = serve.up(PROFILE, port, state, progress=False)
                break
            except serve.ServeError as err:
                if attempt == 3 or "timed out during startup" not in str(err):
                    raise
                print(f"Ray did not start (attempt {attempt}, load {report.load_average()}); retrying", flush=True)
        yield direct_ingress_url(handle.pid) if direct else handle.base_url, time.monotonic() - started, handle.pid
    finally:
        serve.down(state, port)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def bare_server(port: int):
    """``python -m vllm.entrypoints.openai.api_server`` with the profile's own engine flags; yields (url, ready s)."""
    cfg = load_profile(PROFILE)
    engine = cfg.engine_kwargs
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server",
           "--model", str(cfg.model_loading_config.model_source), "--served-model-name", MODEL,
           "--host", "127.0.0.1", "--port", str(port), "--dtype", engine["dtype"],
           "--max-model-len", str(engine["max_model_len"]), "--max-num-seqs", str(engine["max_num_seqs"])]  # fmt: skip
    if engine.get("enforce_eager"):
        cmd.append("--enforce-eager")
    log = Path(tempfile.mkstemp(prefix="tl-bench-vllm-", suffix=".log")[1])
    started = time.monotonic()
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, **SERVER_ENV},
                                start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 900
        while not serve.generates(url, MODEL):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"bare vLLM did not start; see {log}:\n{log.read_text()[-2000:]}")
            time.sleep(1)
        yield url, time.monotonic() - started, proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--port", type=int, default=8030)
    parser.add_argument("--levels", default="1:8,4:16,16:32", help="concurrency:requests,...")
    parser.add_argument("--ray-env", action="append", default=[], help="KEY=VALUE for the Ray server (diagnosis)")
    parser.add_argument("--name", default="serving", help="result file name (diagnosis runs: another name)")
    parser.add_argument("--direct", action="store_true", help="diagnosis: call the ingress replica's direct port")
    args = parser.parse_args()
    if args.port in (8010, 8009) or args.port + 1 == 8010:
        raise SystemExit("port 8010 belongs to the team's shared server; pick another --port")
    levels = {int(c): int(n) for c, n in (part.split(":") for part in args.levels.split(","))}
    extra_env = dict(item.split("=", 1) for item in args.ray_env)
    load0 = report.load_average()
    local_models.prepare(MODEL)
    servers = {"ray": lambda: ray_server(args.port, extra_env, args.direct), "bare": lambda: bare_server(args.port + 1)}
    runs: dict[str, dict[int, list]] = {name: {c: [] for c in levels} for name in servers}
    ready: dict[str, list[float]] = {name: [] for name in servers}
    for r in range(args.rounds):
        for name in ("ray", "bare") if r % 2 == 0 else ("bare", "ray"):
            with servers[name]() as (url, seconds, pid):
                ready[name].append(round(seconds, 1))
                for c, run in measure(url, levels, args.max_tokens, pid).items():
                    runs[name][c].append(run)
            print(f"round {r + 1} {name}: ready {seconds:.0f} s, load {report.load_average()}", flush=True)
    figures: dict = {"rounds": args.rounds, "max_tokens": args.max_tokens, "profile": PROFILE, "niceness": os.nice(0),
                     "ray_env": extra_env, "ray_via": "direct ingress" if args.direct else "serve proxy",
                     "time_to_ready_s": ready}
    goals = {}
    for c in levels:
        ray, bare = pooled(runs["ray"][c]), pooled(runs["bare"][c])
        ratio = round(ray["tok_s"] / bare["tok_s"], 3)
        ttft_over = round(ray["ttft_p50_s"] - bare["ttft_p50_s"], 3)
        figures[f"concurrency_{c}"] = {"ray": ray, "bare": bare, "tok_s_ratio": ratio, "ttft_p50_overhead_s": ttft_over}
        goals[f"tok/s ray/bare at concurrency {c}"] = report.goal(ratio, ">= 0.95", ratio >= 0.95)
        if c == 1:
            goals["TTFT p50 overhead at concurrency 1 (s)"] = report.goal(ttft_over, "<= 0.10", ttft_over <= 0.10)
    report.write(args.name, figures, goals, load_at_start=load0)


if __name__ == "__main__":
    main()
