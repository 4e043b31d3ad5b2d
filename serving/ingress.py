"""The OpenAI ingress of ray.serve.llm plus a price on every response.

Self-hosted cost is the replica's price per hour times the time it was busy, shared fairly between the
requests that were in flight together:

    busy_seconds(request) = integral over the request's lifetime of dt / n_in_flight(t)
    cost_usd(request)     = busy_seconds(request) * usd_per_hour / 3600

so the busy seconds of all requests add up to the wall time the model had work, and the costs add up to what
the replica cost while busy (idle time is not charged to anyone). With several replicas of one model the
in-flight count is the ingress replica's view, an approximation that is exact for one ingress replica.

Non-streaming responses carry the headers ``x-tierlab-busy-seconds``, ``x-tierlab-cost-usd`` and
``x-tierlab-usd-per-hour``. Streaming responses cannot know the total when headers are sent: they carry
``x-tierlab-usd-per-hour`` as a header and the totals as an SSE comment line just before ``data: [DONE]``
(``: x-tierlab-busy-seconds=… x-tierlab-cost-usd=…``), which OpenAI clients ignore.

The meter is O(1) per request (one running integral), so it costs no measurable throughput.

API key: when ``$TIERLAB_SERVE_API_KEY`` is set in the replica's environment (``tierlab serve up`` sets it from
``$TIERLAB_HOME/secrets/serve_api_key``; on Kubernetes it comes from Secret ``tierlab-serve-api-key``, key
``api-key``), every request to the ingress must carry ``Authorization: Bearer <key>`` or gets a 401. The check
wraps the whole ASGI app, so a route a future Ray adds is covered too (fail closed). Unset: no check. The Serve
proxy's own ``/-/healthz`` and ``/-/routes`` never reach the ingress and stay open (they expose no model).
"""

from __future__ import annotations

import hmac
import json
import os
import time
from collections.abc import AsyncIterator, Callable

from ray.llm._internal.serve.core.ingress.ingress import OpenAiIngress
from starlette.responses import Response, StreamingResponse

BUSY_HEADER = "x-tierlab-busy-seconds"
COST_HEADER = "x-tierlab-cost-usd"
RATE_HEADER = "x-tierlab-usd-per-hour"
DONE = "data: [DONE]\n\n"
API_KEY_ENV = "TIERLAB_SERVE_API_KEY"


class BusyMeter:
    """Running integral of dt / n_in_flight; a request's share is the difference between its stop and start."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._in_flight = 0
        self._shared = 0.0
        self._last = clock()

    def _advance(self) -> None:
        now = self._clock()
        if self._in_flight:
            self._shared += (now - self._last) / self._in_flight
        self._last = now

    def start(self) -> float:
        self._advance()
        self._in_flight += 1
        return self._shared

    def stop(self, started: float) -> float:
        """End a request started at ``started`` (the value ``start`` returned); returns its busy seconds."""
        self._advance()
        self._in_flight -= 1
        return self._shared - started


def cost_usd(busy_seconds: float, usd_per_hour: float) -> float:
    return busy_seconds * usd_per_hour / 3600.0


def cost_comment(busy_seconds: float, usd_per_hour: float) -> str:
    return f": {BUSY_HEADER}={busy_seconds:.6f} {COST_HEADER}={cost_usd(busy_seconds, usd_per_hour):.9f}\n\n"


class CostedIngress(OpenAiIngress):
    """``OpenAiIngress`` that prices each chat/completions response from measured busy time."""

    def __init__(self, *args, usd_per_hour: dict[str, float] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._usd_per_hour = dict(usd_per_hour or {})
        self._meters: dict[str, BusyMeter] = {}

    def _set_asgi_app(self, app) -> None:
        """Serve's replica wrapper (``ASGIAppReplicaWrapper``) installs the FastAPI app through this method:
        wrapping it here puts the key check in front of every route."""
        super()._set_asgi_app(require_api_key(app, os.environ.get(API_KEY_ENV, "").strip()))

    async def _process_llm_request(self, body, call_method: str, raw_request=None) -> Response:
        model = body.model or next(iter(self._usd_per_hour), "")
        rate = self._usd_per_hour.get(model, 0.0)
        meter = self._meters.setdefault(model, BusyMeter())
        started = meter.start()
        try:
            response = await super()._process_llm_request(body, call_method, raw_request)
        except BaseException:
            meter.stop(started)
            raise
        response.headers[RATE_HEADER] = f"{rate:g}"
        if isinstance(response, StreamingResponse):
            response.body_iterator = _metered(response.body_iterator, meter, started, rate)
            return response
        busy = meter.stop(started)
        response.headers[BUSY_HEADER] = f"{busy:.6f}"
        response.headers[COST_HEADER] = f"{cost_usd(busy, rate):.9f}"
        return response


async def _metered(chunks: AsyncIterator, meter: BusyMeter, started: float, rate: float) -> AsyncIterator:
    """Pass the SSE stream through; put the cost comment in front of the final ``[DONE]``."""
    stopped = False
    try:
        async for chunk in chunks:
            text = chunk.decode() if isinstance(chunk, bytes) else chunk
            if text.endswith(DONE):
                busy = meter.stop(started)
                stopped = True
                yield text[: -len(DONE)] + cost_comment(busy, rate) + DONE
            else:
                yield chunk
    finally:
        if not stopped:
            meter.stop(started)


def require_api_key(app, key: str):
    """``app`` behind an ``Authorization: Bearer <key>`` check on HTTP requests (``app`` itself if no key)."""
    return _KeyGuard(app, key) if key else app


class _KeyGuard:
    """ASGI wrapper; other attributes (Serve calls ``add_exception_handler``) pass through to the app."""

    def __init__(self, app, key: str):
        self._app = app
        self._expected = f"Bearer {key}".encode()

    def __getattr__(self, name: str):
        return getattr(self._app, name)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            sent = dict(scope.get("headers") or ()).get(b"authorization", b"")
            if not hmac.compare_digest(sent, self._expected):
                await _unauthorized(send)
                return
        await self._app(scope, receive, send)


async def _unauthorized(send) -> None:
    body = json.dumps({"error": {
        "message": f"missing or wrong API key: send 'Authorization: Bearer <key>' (the server's {API_KEY_ENV})",
        "type": "invalid_request_error", "code": "invalid_api_key",
    }}).encode()  # fmt: skip
    headers = [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})
