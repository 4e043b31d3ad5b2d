"""Benchmark: does a client stay under a free tier's real limits, and what does TierLab's client cost per call?

1. Quota adherence at a REAL 30 RPM window (real minutes, no time scale). The tier is the shipped catalog's
   ``groq/llama-3.1-8b-instant`` limits (30 RPM, 14,400 RPD, 6,000 TPM, 500,000 TPD) served by TierLab's emulator,
   which answers 429 past any window exactly like the provider (groq dialect headers). ``--requests`` (default 80)
   are fired from ``--threads`` threads by three clients, each against its own emulator, all three at the same
   time on the same host:
   * TierLab (``get_chat_model``, the path an experiment uses: client-side quota, cache, retries);
   * LiteLLM ``Router`` configured as its docs recommend for staying under a deployment's limit (see
     ``litellm_router``);
   * the plain ``openai`` SDK with its own retries (``max_retries=5``; it retries 429s with backoff and honours
     ``Retry-After``).
   Reported per client: completed, failed, 429s the server sent (total and after the first minute, the warm-up),
   wall time, achieved rate (completed per minute of wall time) / allowed 30 RPM, and wall time / the ideal wall
   time (the earliest the last request can be admitted by a rolling 60 s window: 60 s x floor((n-1)/30)).
2. Per-call overhead on the REAL path: a catalog entry with the same windows as the groq entry (each limit x1000
   so the run never waits: the limiter still checks four windows plus pacing in its persisted SQLite state under
   a fresh TIERLAB_HOME), the response cache on, every prompt new (cache misses, so every call also writes the
   cache). Same local echo endpoint, sequential, the runners taking turns call by call. Added ms per call: p50 =
   median of the paired differences to the raw ``openai`` SDK call of the same turn, p99 = our p99 minus the SDK's
   p99; LiteLLM ``completion`` measured alike.
Goals: 100 % completed and 0 429s after warm-up (TierLab); added overhead <= 1 ms p50 (ProviderClient).

Run: ``.venv/bin/python benchmarks/bench_providers.py`` (needs the ``bench`` extra for LiteLLM; ``make bench``).
Everything binds 127.0.0.1; every emulator is stopped by PID when its ``with`` block ends.
"""

import argparse
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
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml  # noqa: E402

from benchmarks import report  # noqa: E402
from toolkit.providers import get_chat_model, running_emulator  # noqa: E402
from toolkit.providers.cache import ResponseCache  # noqa: E402
from toolkit.providers.catalog import load_catalog  # noqa: E402
from toolkit.providers.client import ProviderClient  # noqa: E402
from toolkit.providers.emulator import stats  # noqa: E402

REAL_ENTRY = "groq/llama-3.1-8b-instant"
WARMUP_S = 60.0


def write_catalog(path: Path) -> int:
    """A bench catalog: the real groq entry's limits (``bench/tier``), the same windows x1000 (``bench/x1000``,
    overhead runs) and an unlimited echo server profile. Returns the real RPM."""
    real = load_catalog().entry(REAL_ENTRY)
    limits = real.limits.model_dump(exclude_none=True, exclude_defaults=True) | {"reset": real.limits.reset}
    windows = {k: v for k, v in limits.items() if isinstance(v, int) and k != "time_scale"}
    model = {"checked": "2026-12-01", "context_window": 8192}
    catalog = {"version": 1, "providers": {"bench": {
        "name": "Benchmark tier", "kind": "free", "base_url": "http://127.0.0.1:9/v1", "dialect": real.dialect,
        "models": {"tier": model | {"limits": limits},
                   "x1000": model | {"limits": {**limits, **{k: v * 1000 for k, v in windows.items()}}},
                   "open": model}}}}
    path.write_text(yaml.safe_dump(catalog, sort_keys=False))
    return real.limits.rpm


# --------------------------------------------------------------------------------------------- quota adherence
def burst(url: str, call, requests: int, threads: int) -> dict:
    """Fire ``requests`` calls from ``threads`` threads; count completions and the server's 429s."""
    marks: dict = {}

    def warm_mark():
        time.sleep(WARMUP_S)
        marks["warm"] = stats(url)

    started = time.monotonic()
    timer = threading.Thread(target=warm_mark, daemon=True)
    timer.start()
    errors: list[str] = []

    def safe(i: int) -> bool:
        try:
            call(i)
            return True
        except Exception as err:  # a failed request is a result here, not a crash
            errors.append(f"{type(err).__name__}: {str(err)[:100]}")
            return False

    with ThreadPoolExecutor(threads) as pool:
        ok = sum(pool.map(safe, range(requests)))
    wall = time.monotonic() - started
    final = stats(url)
    warm = marks.get("warm", final)
    return {"completed": ok, "failed": requests - ok, "server_429_total": final.get("rate_limited", 0),
            "server_429_after_warmup": final.get("rate_limited", 0) - warm.get("rate_limited", 0),
            "wall_s": round(wall, 1), "first_error": errors[0] if errors else ""}


def tierlab_client(url: str, catalog: str):
    model = get_chat_model("bench/tier", base_url=url, catalog_path=catalog, max_tokens=8)
    model.client("bench/tier")  # constructed before the clock starts, like a real experiment
    return lambda i: model.invoke(f"request {i}")


def litellm_router(url: str, catalog: str, rpm: int):
    """LiteLLM's documented way to keep a deployment under its rate limit (docs.litellm.ai/docs/routing):
    "Rate-Limit Aware v2 (ASYNC)": routing_strategy="usage-based-routing-v2" -- "Filters out deployment if tpm/rpm
    limit exceeded - If you pass in the deployment's tpm/rpm limits", so the deployment carries rpm (and tpm) as
    documented; enable_pre_call_checks=True (Router docstring: "Filter out deployments which are outside context
    window limits for a given prompt"); retries per the "Retries" section: num_retries plus a retry_policy with
    RateLimitErrorRetries ("If RateLimitErrorRetries = 3, then 3 retries will be made for RateLimitError")."""
    from litellm import Router
    from litellm.router import RetryPolicy

    tier = load_catalog(catalog).entry("bench/tier").limits
    router = Router(
        model_list=[{"model_name": "tier", "litellm_params": {
            "model": "openai/llama-3.1-8b-instant", "api_base": url, "api_key": "unused",
            "rpm": rpm, "tpm": tier.tpm}}],
        routing_strategy="usage-based-routing-v2",
        enable_pre_call_checks=True,
        num_retries=5,
        retry_policy=RetryPolicy(RateLimitErrorRetries=5, TimeoutErrorRetries=2, InternalServerErrorRetries=3),
    )
    return lambda i: router.completion(model="tier", messages=[{"role": "user", "content": f"request {i}"}],
                                       max_tokens=8)


def openai_sdk(url: str, _catalog: str):
    """The plain SDK with its own retries: "Certain errors are automatically retried 2 times by default, with a
    short exponential backoff ... 429 Rate Limit ... You can use the max_retries option to configure or disable
    retry settings" (openai-python README, Retries). Raised to 5 for a rate-limited tier."""
    import openai

    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=5)
    return lambda i: client.chat.completions.create(model="llama-3.1-8b-instant", max_tokens=8,
                                                    messages=[{"role": "user", "content": f"request {i}"}])


def adherence(catalog: str, rpm: int, requests: int, threads: int) -> dict:
    """The three clients at once, each against its own emulator of the same tier (one thread owns each emulator)."""
    makers = {"tierlab": tierlab_client, "litellm_router": lambda u, c: litellm_router(u, c, rpm),
              "openai_sdk": openai_sdk}
    results: dict = {}

    def run(name: str) -> None:
        with running_emulator("bench/tier", "echo", catalog_path=catalog) as url:
            try:
                call = makers[name](url, catalog)
            except ImportError:
                results[name] = {"skipped": "not installed (pip install -e '.[bench]')"}
                return
            results[name] = burst(url, call, requests, threads)

    workers = [threading.Thread(target=run, args=(name,)) for name in makers]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    ideal = 60.0 * ((requests - 1) // rpm)
    for r in results.values():
        if "wall_s" in r:
            r["achieved_per_allowed_rate"] = round(r["completed"] * 60 / r["wall_s"] / rpm, 3)
            r["wall_per_ideal_wall"] = round(r["wall_s"] / ideal, 2) if ideal else None
    return {"requests": requests, "threads": threads, "rpm": rpm, "ideal_wall_s": ideal, **results}


# --------------------------------------------------------------------------------------------- overhead
def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def overhead(catalog: str, calls: int) -> dict:
    """Sequential calls, one of each runner in turn (so load drift hits all alike), each with fresh prompts (cache
    misses). Added ms p50 = the median of the per-round differences (runner minus raw SDK, paired in time); p99 =
    runner p99 minus raw SDK p99. The ratio of medians is reported too: on a loaded machine every call's CPU work
    is stretched, so the ratio travels better than milliseconds."""
    import litellm
    import openai

    with running_emulator("bench/open", "echo", catalog_path=catalog) as url:
        raw = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        entry = load_catalog(catalog).entry("bench/x1000")
        client = ProviderClient(entry, base_url=url, cache=ResponseCache())
        model = get_chat_model("bench/x1000", base_url=url, catalog_path=catalog)
        counter = iter(range(10**9))

        def msgs():
            return [{"role": "user", "content": f"overhead probe {next(counter)}"}]

        runners = {
            "openai_sdk": lambda: raw.chat.completions.create(model=entry.model, messages=msgs(), max_tokens=8),
            "tierlab_client": lambda: client.complete(msgs(), {"max_tokens": 8}),
            "tierlab_chat_model": lambda: model.invoke(msgs()[0]["content"], max_tokens=8),
            "litellm_completion": lambda: litellm.completion(model=f"openai/{entry.model}", api_base=url,
                                                             api_key="unused", messages=msgs(), max_tokens=8),
        }
        times: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(5):  # warm up connections and lazy imports
            for run in runners.values():
                run()
        for i in range(calls):
            names = list(runners) if i % 2 == 0 else list(reversed(runners))  # no runner always goes first
            for name in names:
                t = time.perf_counter()
                runners[name]()
                times[name].append((time.perf_counter() - t) * 1000)
        cached_misses = len(ResponseCache())
    base = times["openai_sdk"]
    out = {"calls_each": len(base), "cache_entries_written": cached_misses,
           "openai_sdk_ms": {"p50": round(pct(base, 50), 3), "p99": round(pct(base, 99), 3)}}
    for name, values in times.items():
        if name != "openai_sdk":
            paired = [v - b for v, b in zip(values, base, strict=True)]
            out[f"{name}_added_ms"] = {"p50": round(statistics.median(paired), 3),
                                       "p99": round(pct(values, 99) - pct(base, 99), 3),
                                       "ratio_p50": round(pct(values, 50) / pct(base, 50), 3)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=80)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--calls", type=int, default=300, help="overhead calls per client")
    parser.add_argument("--skip-adherence", action="store_true", help="overhead only (no 3-minute run)")
    args = parser.parse_args()
    load0 = report.load_average()
    catalog = Path(os.environ["TIERLAB_HOME"]) / "bench-catalog.yaml"
    rpm = write_catalog(catalog)
    figures: dict = {}
    if not args.skip_adherence:
        print(f"quota adherence: {args.requests} requests, {args.threads} threads, real {rpm} RPM, three clients "
              "at once (a few minutes)...", flush=True)
        figures["adherence"] = adherence(str(catalog), rpm, args.requests, args.threads)
    print(f"per-call overhead: {args.calls} calls per client...", flush=True)
    figures["overhead"] = overhead(str(catalog), args.calls)
    goals = {"overhead added p50 ms (ProviderClient)": report.goal(
        figures["overhead"]["tierlab_client_added_ms"]["p50"], "<= 1.0",
        figures["overhead"]["tierlab_client_added_ms"]["p50"] <= 1.0)}
    if "adherence" in figures:
        ours = figures["adherence"]["tierlab"]
        goals["tierlab completed / requested"] = report.goal(
            round(ours["completed"] / args.requests, 3), "1.0", ours["completed"] == args.requests)
        goals["tierlab 429s after warm-up"] = report.goal(ours["server_429_after_warmup"], "0",
                                                          ours["server_429_after_warmup"] == 0)
    report.write("providers", figures, goals, load_at_start=load0, headline=headline(figures))


def headline(figures: dict) -> list[str]:
    lines = []
    adherence = figures.get("adherence", {})
    for name in ("tierlab", "litellm_router", "openai_sdk"):
        r = adherence.get(name)
        if r and "completed" in r:
            lines.append(f"{name}: {r['completed']}/{adherence['requests']} completed at a real {adherence['rpm']} RPM, "
                         f"{r['server_429_total']} server 429s ({r['server_429_after_warmup']} after the first minute), "
                         f"{r['wall_s']:.0f} s")
    o = figures["overhead"]
    lines.append(f"added per call (p50/p99 ms) vs the raw openai SDK ({o['openai_sdk_ms']['p50']:.1f} ms p50 here): "
                 + ", ".join(f"{k.removesuffix('_added_ms')} {v['p50']:.2f}/{v['p99']:.1f}"
                             for k, v in o.items() if k.endswith("_added_ms")))
    return lines


if __name__ == "__main__":
    main()
