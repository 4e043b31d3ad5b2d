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
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

from ray.llm._internal.serve.core.ingress.ingress import OpenAiIngress
from starlette.responses import Response, StreamingResponse

BUSY_HEADER = "x-tierlab-busy-seconds"
COST_HEADER = "x-tierlab-cost-usd"
RATE_HEADER = "x-tierlab-usd-per-hour"
DONE = "data: [DONE]\n\n"


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
