"""Benchmark: does TierLab's client stay under a free tier's limits, and what does it cost per call?

1. Rate adherence. A burst of 200 requests (32 threads) against an emulated 30-RPM tier, with TierLab's client
   and with LiteLLM's Router configured with the same rate, each against its own fresh emulator, in one run.
   To finish in ~1-2 minutes the tier runs with ``time_scale=10``: "30 RPM" = 30 requests per 6 s (5 req/s).
   LiteLLM has no time scale, so it gets ``rpm=300`` (the same 5 req/s); its router enforces it with pre-call
   checks and retries 429s. Reported: achieved / allowed request rate after the first window (goal >= 0.95) and
   429s the server sent after that warm-up window (goal 0).
2. Per-call overhead. Sequential calls to the same local endpoint (emulator, echo backend, no limits): the raw
   ``openai`` SDK vs our ``ProviderClient.complete`` vs the langchain chat model ``invoke`` (cache off).
   Median latency ratio (goal <= 1.05x).

Run: ``.venv/bin/python benchmarks/bench_providers.py`` (needs ``pip install -e .[bench]`` for LiteLLM).
Everything binds 127.0.0.1; all servers are stopped by PID at the end.
"""

import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # LiteLLM must not fetch its price map online
os.environ["TIERLAB_HOME"] = tempfile.mkdtemp(prefix="tierlab-bench-")

from toolkit.providers import get_chat_model, running_emulator  # noqa: E402
from toolkit.providers.catalog import load_catalog  # noqa: E402
from toolkit.providers.client import ProviderClient  # noqa: E402
from toolkit.providers.emulator import stats  # noqa: E402

REQUESTS, THREADS, RPM, SCALE = 200, 32, 30, 10
WINDOW_S = 60 / SCALE
ALLOWED_RATE = RPM / WINDOW_S
CATALOG = f"""
version: 1
providers:
  bench:
    name: Benchmark tier
    kind: free
    base_url: http://127.0.0.1:9/v1
    dialect: groq
    models:
      echo-30rpm:
        checked: 2026-11-25
        context_window: 4096
        limits: {{rpm: {RPM}, reset: rolling, time_scale: {SCALE}}}
      echo-open:
        checked: 2026-11-25
        context_window: 4096
"""


def burst(url: str, call) -> dict:
    """Fire REQUESTS calls from THREADS threads; measure admitted rate and 429s after the first window."""
    marks: dict = {}

    def warmup_mark():
        time.sleep(WINDOW_S)
        marks["warm"] = (time.monotonic(), stats(url))

    started = time.monotonic()
    timer = threading.Thread(target=warmup_mark)
    timer.start()
    failures = 0
    with ThreadPoolExecutor(THREADS) as pool:
        for outcome in pool.map(lambda i: _safe(call, i), range(REQUESTS)):
            failures += outcome is False
    ended = time.monotonic()
    timer.join()
    final = stats(url)
    warm_t, warm = marks["warm"]
    after_admitted = final["admitted"] - warm["admitted"]
    rate = after_admitted / (ended - warm_t)
    return {
        "ok": REQUESTS - failures,
        "failed": failures,
        "seconds": ended - started,
        "rate_ratio": rate / ALLOWED_RATE,
        "429_after_warmup": final.get("rate_limited", 0) - warm.get("rate_limited", 0),
        "429_total": final.get("rate_limited", 0),
    }


def _safe(call, i):
    try:
        call(i)
        return True
    except Exception as err:  # a failed request is a result here, not a crash
        print(f"  request {i} failed: {type(err).__name__}: {str(err)[:120]}", file=sys.stderr)
        return False


def tierlab_burst(catalog: str) -> dict:
    with running_emulator("bench/echo-30rpm", "echo", catalog_path=catalog) as url:
        model = get_chat_model("bench/echo-30rpm", base_url=url, cache=False, catalog_path=catalog, max_tokens=8)
        model.client("bench/echo-30rpm")  # construct before the clock starts, like a real experiment
        return burst(url, lambda i: model.invoke(f"request {i}"))


def litellm_burst(catalog: str) -> dict:
    from litellm import Router

    with running_emulator("bench/echo-30rpm", "echo", catalog_path=catalog) as url:
        router = Router(
            model_list=[{"model_name": "echo", "litellm_params": {
                "model": "openai/echo-30rpm", "api_base": url, "api_key": "unused", "rpm": RPM * SCALE}}],
            routing_strategy="usage-based-routing-v2",
            enable_pre_call_checks=True,
            num_retries=5,
        )
        messages = lambda i: [{"role": "user", "content": f"request {i}"}]  # noqa: E731
        return burst(url, lambda i: router.completion(model="echo", messages=messages(i), max_tokens=8))


def overhead(catalog: str, calls: int = 200) -> dict:
    import openai

    with running_emulator("bench/echo-open", "echo", catalog_path=catalog) as url:
        raw = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        client = ProviderClient(load_catalog(catalog).entry("bench/echo-open"), base_url=url)
        model = get_chat_model("bench/echo-open", base_url=url, cache=False, catalog_path=catalog)
        messages = [{"role": "user", "content": "overhead probe"}]
        runners = {
            "openai SDK": lambda: raw.chat.completions.create(model="echo-open", messages=messages, max_tokens=8),
            "ProviderClient": lambda: client.complete(messages, {"max_tokens": 8}),
            "chat model invoke": lambda: model.invoke("overhead probe", max_tokens=8),
        }
        times: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(10):  # warm up connections and lazy imports
            for run in runners.values():
                run()
        for _ in range(calls // 10):  # interleave blocks so machine load hits every runner alike
            for name, run in runners.items():
                for _ in range(10):
                    t = time.perf_counter()
                    run()
                    times[name].append(time.perf_counter() - t)
        return {name: statistics.median(values) * 1000 for name, values in times.items()}


def main() -> None:
    catalog = Path(os.environ["TIERLAB_HOME"]) / "bench-catalog.yaml"
    catalog.write_text(CATALOG)
    print(f"Burst of {REQUESTS} requests, {THREADS} threads, emulated {RPM} RPM at time_scale {SCALE} "
          f"(= {RPM} per {WINDOW_S:.0f} s, allowed {ALLOWED_RATE:.1f} req/s)")
    rows = {"TierLab": tierlab_burst(str(catalog))}
    try:
        rows[f"LiteLLM Router (rpm={RPM * SCALE})"] = litellm_burst(str(catalog))
    except ImportError:
        print("  LiteLLM not installed (pip install -e .[bench]); skipping the peer")
    print(f"{'client':32} {'ok':>4} {'failed':>6} {'seconds':>8} {'achieved/allowed':>17} {'429 after warm-up':>18} "
          f"{'429 total':>9}")
    for name, r in rows.items():
        print(f"{name:32} {r['ok']:>4} {r['failed']:>6} {r['seconds']:>8.1f} {r['rate_ratio']:>17.3f} "
              f"{r['429_after_warmup']:>18} {r['429_total']:>9}")
    print("\nPer-call latency, same local echo endpoint, sequential (median ms):")
    medians = overhead(str(catalog))
    base = medians["openai SDK"]
    for name, ms in medians.items():
        print(f"  {name:20} {ms:7.2f} ms   {ms / base:5.2f}x")


if __name__ == "__main__":
    main()
