"""A free-tier emulator: an OpenAI-compatible server on 127.0.0.1 that behaves like a provider's free tier.

Cloud APIs are unreachable from our machines, and researchers want to rehearse an experiment without burning real
quota. The emulator enforces a catalog profile's limits (the same ``QuotaLimiter`` as the client, in memory),
answers with that provider's own rate-limit headers and 429 bodies (``dialects``), adds latency, injects faults,
and generates text by forwarding to a local self-hosted model (or a built-in echo backend for fast tests).
Every answer carries ``x-tierlab-emulated: <profile>`` so results are labelled as emulated wherever logged.

``limits.time_scale`` (or ``--time-scale``) shrinks every window: at 10, "30 RPM" means 30 requests per 6 s.

``GET /tierlab/identity`` says what this emulator runs (profile, backend, faults, latency, ...) and which process it
is: clients key their cache and quota by it (``endpoint.py``). A child started by ``running_emulator`` ends with
its parent, even after ``kill -9`` of the parent (``watch_parent``).
"""

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Annotated

import typer

from toolkit.providers.dialects import DAILY_WINDOWS, Window, render_429, render_headers

DEFAULT_BACKEND = "http://127.0.0.1:8000/v1"
EMULATED_HEADER = "x-tierlab-emulated"
FAULTS = ("5xx", "timeout", "truncate", "daily-exhausted")


def parse_faults(spec: str | None) -> dict[str, float]:
    """``"5xx:0.1,timeout:0.05,truncate:0.05,daily-exhausted"`` -> ``{"5xx": 0.1, ..., "daily-exhausted": 1.0}``."""
    faults: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        name, _, prob = part.partition(":")
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; use one of {', '.join(FAULTS)} (e.g. 5xx:0.1,daily-exhausted).")
        try:
            faults[name] = float(prob) if prob else 1.0
        except ValueError:
            raise ValueError(f"fault {name!r} needs a probability in [0, 1], got {prob!r}.") from None
        if not 0 <= faults[name] <= 1:
            raise ValueError(f"fault {name!r} probability must be in [0, 1], got {prob}.")
    return faults


def parse_latency(spec: str | None) -> tuple[float, float]:
    """``"0.3"`` or ``"0.3:0.1"`` -> (seconds before the answer, uniform jitter) added to every call."""
    if not spec:
        return 0.0, 0.0
    base, _, jitter = spec.partition(":")
    try:
        return float(base), float(jitter or 0)
    except ValueError:
        raise ValueError(f"latency must be SECONDS[:JITTER], e.g. 0.3:0.1; got {spec!r}.") from None


def _echo(messages: list[dict], max_tokens: int | None) -> str:
    last = next((str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), "")
    words = f"Echo: {last}".split()
    return " ".join(words[: max_tokens or 64])


def create_app(profile: str, *, backend_url: str = DEFAULT_BACKEND, faults: dict[str, float] | None = None,
               latency: tuple[float, float] = (0.0, 0.0), time_scale: float | None = None,
               catalog_path: str | None = None, fault_timeout_s: float = 30.0, seed: int | None = None,
               instance: str | None = None):
    """The emulator as an ASGI app (Starlette). ``instance`` names this emulator process (default: a fresh id)."""
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    from toolkit.providers.catalog import load_catalog
    from toolkit.providers.limits import QuotaLimiter

    entry = load_catalog(catalog_path).entry(profile)
    limits = entry.limits if time_scale is None else entry.limits.model_copy(update={"time_scale": time_scale})
    limiter = QuotaLimiter(entry.id, limits, persist=False)
    faults = faults or {}
    rng = random.Random(seed)
    stats: Counter = Counter()
    backend: dict = {"model": None, "card": {}}
    identity = {"profile": entry.id, "backend_url": backend_url, "faults": dict(sorted(faults.items())),
                "latency": list(latency), "time_scale": time_scale, "seed": seed, "fault_timeout_s": fault_timeout_s,
                "instance": instance or uuid.uuid4().hex[:16], "pid": os.getpid()}
    from toolkit.security import serve_auth_headers

    # The backend is usually TierLab's own server, which wants its key (sent to loopback backends only).
    http = httpx.AsyncClient(timeout=300, headers=serve_auth_headers(backend_url)) if backend_url != "echo" else None

    def headers() -> dict[str, str]:
        return {EMULATED_HEADER: entry.id, **render_headers(entry.dialect, limiter.snapshot())}

    def too_many(window: str, wait_s: float) -> JSONResponse:
        stats["rate_limited"] += 1
        limit = getattr(limits, window)
        extra, body = render_429(entry.dialect, entry.model, window, Window(limit, 0, wait_s), wait_s)
        return JSONResponse(body, status_code=429, headers={**headers(), **extra})

    async def backend_card() -> dict:
        """The backend's model card (its id and context window), asked once."""
        if backend["model"] is None:
            backend["card"] = (await http.get(f"{backend_url}/models")).json()["data"][0]
            backend["model"] = backend["card"]["id"]
        return backend["card"]

    async def generate(body: dict) -> tuple[str, int, int, str]:
        messages = body.get("messages") or []
        if http is None:
            text = _echo(messages, body.get("max_tokens"))
            return text, sum(len(str(m.get("content") or "").split()) for m in messages), len(text.split()), "stop"
        await backend_card()
        forward = {k: v for k, v in body.items() if k not in ("stream", "stream_options")} | {"model": backend["model"]}
        answer = (await http.post(f"{backend_url}/chat/completions", json=forward)).raise_for_status().json()
        usage = answer.get("usage") or {}
        choice = answer["choices"][0]
        return (choice["message"].get("content") or "", int(usage.get("prompt_tokens", 0)),
                int(usage.get("completion_tokens", 0)), choice.get("finish_reason") or "stop")

    async def chat(request: Request) -> Response:
        stats["requests"] += 1
        if entry.key_env and not request.headers.get("authorization", "").startswith("Bearer "):
            return JSONResponse({"error": {"message": "Invalid API Key", "type": "invalid_request_error",
                                           "code": "invalid_api_key"}}, status_code=401)
        body = await request.json()
        if faults.get("daily-exhausted", 0) and rng.random() < faults["daily-exhausted"]:
            window = next((w for w in DAILY_WINDOWS if getattr(limits, w)), "rpd")
            return too_many(window, limiter.next_reset_s(time.time()) - time.time())
        estimate = sum(len(str(m.get("content") or "")) // 4 + 4 for m in body.get("messages") or [])
        if denied := limiter.admit(tokens=estimate):
            return too_many(*denied)
        stats["admitted"] += 1
        roll = rng.random()
        if roll < faults.get("5xx", 0):
            stats["fault_5xx"] += 1
            return JSONResponse({"error": {"message": "Service Unavailable (emulated)", "type": "server_error"}},
                                status_code=503, headers={EMULATED_HEADER: entry.id})
        roll -= faults.get("5xx", 0)
        if roll < faults.get("timeout", 0):
            stats["fault_timeout"] += 1
            await asyncio.sleep(fault_timeout_s)
            return JSONResponse({"error": {"message": "Gateway Timeout (emulated)"}}, status_code=504)
        roll -= faults.get("timeout", 0)
        truncate = roll < faults.get("truncate", 0)
        stats["fault_truncate"] += truncate
        delay = latency[0] + rng.uniform(0, latency[1])
        if delay:
            await asyncio.sleep(delay)
        try:
            text, in_tok, out_tok, finish = await generate(body)
        except httpx.HTTPStatusError as err:  # the backend refused the request (e.g. too long): pass its 4xx on
            if err.response.status_code >= 500:
                raise
            return Response(err.response.content, status_code=err.response.status_code,
                            media_type="application/json", headers={EMULATED_HEADER: entry.id})
        limiter.record_extra(tokens=in_tok + out_tok - estimate)
        created, rid = int(time.time()), f"chatcmpl-emu-{stats['requests']}"
        usage = {"prompt_tokens": in_tok, "completion_tokens": out_tok, "total_tokens": in_tok + out_tok}
        if body.get("stream"):
            return StreamingResponse(_sse(text, finish, usage, rid, created, body, truncate),
                                     media_type="text/event-stream", headers=headers())
        answer = {"id": rid, "object": "chat.completion", "created": created, "model": entry.model,
                  "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
                  "usage": usage}
        raw = json.dumps(answer)
        if truncate:
            raw = raw[: len(raw) // 2]
        return Response(raw, media_type="application/json", headers=headers())

    async def _sse(text, finish, usage, rid, created, body, truncate):
        words = text.split(" ")
        cut = len(words) // 2 if truncate else len(words)
        for i, word in enumerate(words[:cut]):
            delta = {"role": "assistant", "content": word if i == 0 else " " + word}
            chunk = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": entry.model,
                     "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            yield f"data: {json.dumps(chunk)}\n\n"
        if truncate:
            return
        last = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": entry.model,
                "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
        yield f"data: {json.dumps(last)}\n\n"
        if (body.get("stream_options") or {}).get("include_usage"):
            yield f"data: {json.dumps({'id': rid, 'object': 'chat.completion.chunk', 'choices': [], 'usage': usage})}\n\n"
        yield "data: [DONE]\n\n"

    async def models(_: Request) -> Response:
        """The emulated model, with the context window its text really gets: the backend's, when smaller."""
        from toolkit.providers.context import window_of

        card = {"id": entry.model, "object": "model", "owned_by": entry.provider, "max_model_len": entry.context_window}
        if http is not None:
            window, served = window_of({"data": [await backend_card()]})
            card |= {"max_model_len": min(entry.context_window, window or entry.context_window),
                     "metadata": {"backend_model": served}}
        return JSONResponse({"object": "list", "data": [card]}, headers={EMULATED_HEADER: entry.id})

    async def stats_view(_: Request) -> Response:
        return JSONResponse({"profile": entry.id, "time_scale": limits.time_scale, **stats,
                             "windows": {k: w._asdict() for k, w in limiter.snapshot().items()}})

    async def identity_view(_: Request) -> Response:
        return JSONResponse(identity)

    return Starlette(routes=[
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/tierlab/stats", stats_view, methods=["GET"]),
        Route("/tierlab/identity", identity_view, methods=["GET"]),
    ])


PR_SET_PDEATHSIG = 1


def watch_parent(parent_pid: int, poll_s: float = 0.5) -> None:
    """End this process when ``parent_pid`` ends, however it ends (``kill -9`` included).

    Linux: the kernel sends SIGKILL at the parent's death (``prctl(PR_SET_PDEATHSIG)``; an emulator holds nothing
    worth a graceful shutdown). Everywhere, as a fallback: a daemon thread notices being re-parented. The
    parent-pid check right after ``prctl`` closes the race of a parent that died before it was set.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)

    def orphaned() -> bool:
        return os.getppid() != parent_pid

    if orphaned():
        os._exit(0)

    def poll() -> None:
        while not orphaned():
            time.sleep(poll_s)
        os._exit(0)

    threading.Thread(target=poll, name="tierlab-parent-watch", daemon=True).start()


def emulate(
    profile: Annotated[str, typer.Option(help="Catalog id whose free tier to emulate, e.g. groq/llama-3.1-8b-instant.")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8300,
    backend_url: Annotated[str, typer.Option(help="OpenAI-compatible model server that writes the text, or 'echo'.")]
    = DEFAULT_BACKEND,
    latency: Annotated[str | None, typer.Option(help="Extra latency per call: SECONDS[:JITTER].")] = None,
    fault: Annotated[str | None, typer.Option(help="Faults: 5xx:P,timeout:P,truncate:P,daily-exhausted.")] = None,
    time_scale: Annotated[float | None, typer.Option(help="Shrink windows (10 => 30 RPM runs as 30 per 6 s).")] = None,
    catalog: Annotated[str | None, typer.Option(help="Catalog override YAML.")] = None,
    fault_timeout_s: Annotated[float, typer.Option(help="How long a 'timeout' fault hangs.")] = 30.0,
    seed: Annotated[int | None, typer.Option(help="Seed for fault injection.")] = None,
    instance: Annotated[str | None, typer.Option(help="Name of this emulator process (default: a fresh id).")] = None,
    parent_pid: Annotated[int | None, typer.Option(help="Exit when this process ends (set by running_emulator).")]
    = None,
) -> None:
    """Run a free-tier emulator (OpenAI-compatible) on 127.0.0.1 until interrupted."""
    import uvicorn

    if parent_pid:
        watch_parent(parent_pid)
    try:
        app = create_app(profile, backend_url=backend_url.rstrip("/"), faults=parse_faults(fault),
                         latency=parse_latency(latency), time_scale=time_scale, catalog_path=catalog,
                         fault_timeout_s=fault_timeout_s, seed=seed, instance=instance)
    except (ValueError, KeyError) as err:
        raise typer.BadParameter(str(err)) from None
    typer.echo(f"emulating {profile} on http://127.0.0.1:{port}/v1 (backend {backend_url})", err=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


FAULT_KEYWORDS = {"server_error": "5xx", "timeout": "timeout", "truncate": "truncate",
                  "daily_exhausted": "daily-exhausted"}
"""``running_emulator`` keywords for single faults, and the fault each one injects."""
OPTIONS = ("faults", "latency", "time_scale", "fault_timeout_s", "seed", *FAULT_KEYWORDS)
"""What a spec's ``emulator_options`` may set (the rest of ``running_emulator``'s arguments come from the spec)."""


def check_options(options: dict) -> None:
    """Raise ``ValueError`` naming the option and the fix for anything ``running_emulator`` would refuse later."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown emulator option(s) {unknown}; use {', '.join(OPTIONS)} "
                         "(e.g. {faults: '5xx:0.1', latency: '0.3:0.1'}).")
    values = {k: v for k, v in options.items() if v is not None}
    parse_faults(values.get("faults"))
    parse_latency(None if values.get("latency") is None else str(values["latency"]))
    for name in ("time_scale", "fault_timeout_s"):
        if name in values and not (isinstance(values[name], int | float) and values[name] > 0):
            raise ValueError(f"{name} must be a number > 0, got {values[name]!r}.")
    if "seed" in values and not isinstance(values["seed"], int):
        raise ValueError(f"seed must be an integer, got {values['seed']!r}.")
    for name in FAULT_KEYWORDS:
        if name in values and not (isinstance(values[name], int | float) and 0 <= values[name] <= 1):
            raise ValueError(f"{name} is a probability in [0, 1], got {values[name]!r}.")


@contextlib.contextmanager
def running_emulator(profile: str, backend_url: str = DEFAULT_BACKEND, port: int | None = None, *,
                     latency: str | None = None, time_scale: float | None = None, catalog_path: str | None = None,
                     fault_timeout_s: float = 30.0, seed: int | None = None, faults: str | None = None,
                     **fault_kwargs: float) -> Iterator[str]:
    """Start an emulator subprocess, yield its base URL, stop it by PID (it also ends if this process is killed).

    Clients' quota mirror of this emulator (``quota/emulated/<instance>``) is removed when it stops. On Linux the
    child is tied to the *thread* that starts it: keep the ``with`` block in one thread that outlives its use.
    Faults as a spec string (``faults="5xx:0.1,daily-exhausted"``) or keywords ``server_error=0.1, timeout=0.05,
    truncate=0.05, daily_exhausted=1``.
    """
    check_options({"latency": latency, "time_scale": time_scale, "fault_timeout_s": fault_timeout_s, "seed": seed,
                   "faults": faults, **fault_kwargs})
    spec = ",".join(filter(None, [faults, *(f"{FAULT_KEYWORDS[k]}:{float(v)}" for k, v in fault_kwargs.items() if v)]))
    port, instance = port or free_port(), uuid.uuid4().hex[:16]
    cmd = [sys.executable, "-m", "toolkit.providers.emulator", "--profile", profile, "--port", str(port),
           "--backend-url", backend_url, "--fault-timeout-s", str(fault_timeout_s), "--instance", instance,
           "--parent-pid", str(os.getpid())]
    for flag, value in (("--fault", spec), ("--latency", latency), ("--time-scale", time_scale),
                        ("--catalog", catalog_path), ("--seed", seed)):
        if value not in (None, ""):
            cmd += [flag, str(value)]
    log = tempfile.TemporaryFile()  # not a pipe: a chatty child must never block on a full pipe
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"emulator for {profile} exited: {log.read().decode(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"emulator for {profile} not ready on {base_url} after 60 s") from None
                time.sleep(0.1)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        from toolkit import paths
        from toolkit.providers.endpoint import EMULATED_DIR

        shutil.rmtree(paths.subdir("quota") / EMULATED_DIR / instance, ignore_errors=True)


def stats(base_url: str) -> dict:
    """The emulator's counters (requests, admitted, rate_limited, faults, window state)."""
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/tierlab/stats", timeout=5) as answer:
        return json.loads(answer.read())


if __name__ == "__main__":
    typer.run(emulate)
