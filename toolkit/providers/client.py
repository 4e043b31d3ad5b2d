"""The one OpenAI-compatible client: cloud free tiers and self-hosted servers differ only in catalog data.

A call goes: response cache -> client-side quota (``limits``) -> HTTP (httpx, kept-alive) -> the provider's quota
signals folded back into the limiter -> cost. Cache and quota are the endpoint's own (``endpoint.py``), and an
attempt that never reached the server (refused, DNS, connect timeout) gives its quota reservation back. 429/5xx/timeouts/truncated answers are retried with exponential
backoff and jitter (tenacity), ``Retry-After`` is honoured through the shared limiter view, and a spent daily
quota raises ``QuotaExhausted`` at once instead of retrying all day.
"""

import datetime as dt
import json
import random
import time
from collections.abc import Callable, Iterator

import httpx
from pydantic import BaseModel, ConfigDict, Field
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from toolkit.providers import cancel, dialects
from toolkit.providers.cache import ResponseCache, cache_key
from toolkit.providers.catalog import Entry
from toolkit.providers.cost import SELFHOSTED_COST_HEADER, neurons, usage_for
from toolkit.providers.endpoint import Endpoint, open_limiter
from toolkit.providers.errors import ProviderError
from toolkit.providers.keys import api_key, redact
from toolkit.providers.limits import QuotaExhausted, QuotaLimiter
from toolkit.records import Usage

EMULATED_HEADER = "x-tierlab-emulated"
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Failures before the request reached the server (refused, DNS, connect or pool timeout): nothing was counted."""


class Completion(BaseModel):
    """One answer with everything measured about it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    finish_reason: str | None = None
    usage: Usage
    provider: str
    model: str
    emulated: bool = False
    served_model: str | None = Field(default=None, description="Model id the server's answer names (its `model`).")
    cached: bool = False
    ttft_s: float | None = None
    waited_s: float = 0.0
    quota: dict = {}


def estimate_tokens(messages: list[dict]) -> int:
    """~4 characters per token: good enough to reserve TPM before the provider tells us the real count."""
    return sum(len(str(m.get("content") or "")) // 4 + 4 for m in messages)


class ProviderClient:
    """Calls one catalog entry. Thread-safe; share one per provider model within a process."""

    def __init__(
        self,
        entry: Entry,
        *,
        base_url: str | None = None,
        cache: ResponseCache | None = None,
        limiter: QuotaLimiter | None = None,
        emulated: bool = False,
        timeout_s: float = 60.0,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        env_file: str | None = None,
        sleep: Callable[[float], None] = cancel.sleep,
        endpoint: Endpoint | None = None,
    ):
        self.endpoint = endpoint or Endpoint.of(entry, base_url, emulated)
        self.entry, self.cache, self.emulated, self.sleep = entry, cache, self.endpoint.emulated, sleep
        self.max_retries, self.backoff_s = max_retries, backoff_s
        self.base_url = self.endpoint.base_url
        self.limiter = limiter or open_limiter(self.endpoint, entry.limits, sleep=sleep)
        self._key = api_key(entry, env_file)
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)
        self._served: tuple[int | None, str | None] | None = None

    def served_limits(self) -> tuple[int | None, str | None]:
        """(context window, served model id) as the endpoint's ``GET /models`` reports them, asked once per client;
        (None, None) when it does not answer (a replay with the server down falls back to the catalog)."""
        if self._served is None:
            from toolkit.providers.context import window_of

            try:
                response = self._http.get("/models", timeout=10)
                self._served = window_of(response.json(), self.entry.model) if response.status_code == 200 else (
                    None, None)
            except (httpx.HTTPError, ValueError):
                self._served = (None, None)
        return self._served

    # --- public -------------------------------------------------------------------------------------------
    def complete(self, messages: list[dict], params: dict, sample: int | None = None) -> Completion:
        """One answer. ``sample``: the index of this call among deliberate repeats of the same request (e.g. the
        self-consistency samples at temperature > 0), so each repeat is its own cached answer, not a replay."""
        key = cache_key(self.endpoint, messages, params, sample)
        if hit := self._cached(key):
            return hit
        body = {"model": self.entry.model, "messages": messages, **params}
        state = self._new_state()
        try:
            result = self._with_retries(lambda: self._post(body, messages, params, state))
        except Exception as error:
            self._charge(error, state)
            raise
        self._store(key, result)
        return result

    def stream(self, messages: list[dict], params: dict, sample: int | None = None) -> Iterator[str | Completion]:
        """Yield text deltas, then the final ``Completion`` (usage, TTFT). Retries only before the first delta."""
        key = cache_key(self.endpoint, messages, params, sample)
        if hit := self._cached(key):
            yield hit.text
            yield hit
            return
        body = {"model": self.entry.model, "messages": messages, **params, "stream": True}
        if "no_stream_options" not in self.entry.quirks:
            body["stream_options"] = {"include_usage": True}
        state = self._new_state()
        try:
            for attempt in self._retrying():
                with attempt:
                    result = yield from self._stream_once(body, messages, params, state)
        except Exception as error:
            self._charge(error, state)
            raise
        self._store(key, result)
        yield result

    def close(self) -> None:
        self._http.close()

    # --- internals ----------------------------------------------------------------------------------------
    def _cached(self, key: str) -> Completion | None:
        stored = self.cache.get(key) if self.cache is not None else None
        if stored is None:
            return None
        original = Usage(**stored["usage"])
        usage = original.model_copy(update={"cached_calls": 1, "latency_s": 0.0, "cost_usd": 0.0, "rate_limited": 0,
                                            "requests": 0,
                                            "cached_latency_s": original.latency_s,
                                            "cached_cost_usd": original.cost_usd})
        return Completion(**{**stored, "usage": usage, "cached": True, "waited_s": 0.0, "ttft_s": 0.0})

    def _store(self, key: str, result: Completion) -> None:
        if self.cache is not None:
            self.cache.put(key, result.model_dump(mode="json"))

    def _retrying(self) -> Retrying:
        def wait(retry_state) -> float:
            error = retry_state.outcome.exception()
            if getattr(error, "rate_limited", False):
                return random.uniform(0, 0.25)  # the limiter already sleeps the server's Retry-After
            return wait_exponential_jitter(initial=self.backoff_s, max=40 * self.backoff_s, jitter=self.backoff_s)(retry_state)

        return Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait,
            retry=retry_if_exception(lambda e: isinstance(e, ProviderError) and e.retryable),
            sleep=self.sleep,
            reraise=True,
        )

    @staticmethod
    def _new_state() -> dict:
        """One call's tally over its attempts: 429s, quota wait, requests that reached the server, text yielded."""
        return {"rate_limited": 0, "waited": 0.0, "sent": 0, "yielded": False}

    @staticmethod
    def _charge(error: Exception, state: dict) -> None:
        """Attach what a failed call cost at the server (``error.usage``: its requests and 429s), so the run counts
        it (``experiments.accounting.SpendCollector``); nothing when no request reached a server."""
        if state["sent"]:
            error.usage = Usage(calls=1, requests=state["sent"], rate_limited=state["rate_limited"])

    def _with_retries(self, call) -> Completion:
        for attempt in self._retrying():
            with attempt:
                return call()
        raise AssertionError("unreachable")

    def _reserve(self, messages: list[dict], params: dict, state: dict) -> int:
        cancel.check()  # before every attempt: a cancelled run starts no call, not even a retry
        reserved = estimate_tokens(messages) + int(params.get("max_tokens") or params.get("max_completion_tokens") or 0)
        state["waited"] += self.limiter.acquire(tokens=reserved, neurons=neurons(self.entry, reserved, 0))
        return reserved

    def _unreached(self, err: httpx.TransportError, reserved: int) -> ProviderError:
        """The request never left for the server: refund its quota (a 429 or a read timeout is kept: it counted)."""
        self.limiter.release(tokens=reserved, neurons=neurons(self.entry, reserved, 0))
        return ProviderError(f"{self.entry.id}: could not reach {self.base_url}: {type(err).__name__}: {err}",
                             retryable=True)

    def _check(self, response: httpx.Response, state: dict, body_text: str) -> None:
        signal = dialects.parse(self.entry.dialect, response.status_code, response.headers, body_text)
        self.limiter.observe(signal)
        status = response.status_code
        if status < 400:
            return
        detail = redact(body_text[:300], self._key)
        if status == 429:
            state["rate_limited"] += 1
            if signal.daily_exhausted:
                view = self.limiter.server_view()
                until = view.get("exhausted_until")
                raise QuotaExhausted(self.entry.id, f"the daily quota (server: {signal.message[:160]})",
                                     dt.datetime.fromtimestamp(until, dt.UTC) if until else None)
            raise ProviderError(f"{self.entry.id}: 429 rate limited: {detail}", status=429, retryable=True,
                                rate_limited=True)
        if status in (401, 403):
            hint = f" Check ${self.entry.key_env} (get a key at {self.entry.signup_url})." if self.entry.key_env else ""
            raise ProviderError(f"{self.entry.id}: {status} not authorised: {detail}.{hint}", status=status)
        if status == 410:
            raise ProviderError(f"{self.entry.id}: 410 gone - this endpoint is retired ({self.entry.notes})", status=410)
        raise ProviderError(f"{self.entry.id}: HTTP {status}: {detail}", status=status, retryable=status >= 500 or status == 408)

    def _finish(self, response, text, finish, in_tok, out_tok, reserved, latency, ttft, state,
                served: str | None = None) -> Completion:
        self.limiter.record_extra(tokens=in_tok + out_tok - reserved,
                                  neurons=neurons(self.entry, in_tok, out_tok) - neurons(self.entry, reserved, 0))
        usage = usage_for(self.entry, in_tok, out_tok, latency, rate_limited=state["rate_limited"],
                          served_cost_usd=response.headers.get(SELFHOSTED_COST_HEADER))
        return Completion(
            text=redact(text, self._key),  # a server echoing the key must not put it into answers and the cache
            usage=usage.model_copy(update={"requests": state["sent"]}), finish_reason=finish, provider=self.entry.id,
            model=self.entry.model,
            served_model=str(served) if served else None,
            emulated=self.emulated or EMULATED_HEADER in response.headers, ttft_s=ttft, waited_s=state["waited"],
            quota={k: v for k, v in response.headers.items() if "ratelimit" in k.lower()},
        )

    def _post(self, body: dict, messages: list[dict], params: dict, state: dict) -> Completion:
        reserved = self._reserve(messages, params, state)
        started = time.perf_counter()
        try:
            response = self._http.post("/chat/completions", json=body)
        except NOT_SENT as err:
            raise self._unreached(err, reserved) from None
        except httpx.TimeoutException as err:
            state["sent"] += 1  # sent, then no answer in time: the server has it
            raise ProviderError(f"{self.entry.id}: timed out ({type(err).__name__})", retryable=True) from None
        except httpx.TransportError as err:
            state["sent"] += 1
            raise ProviderError(f"{self.entry.id}: connection failed: {type(err).__name__}: {err}", retryable=True) from None
        state["sent"] += 1
        latency = time.perf_counter() - started
        self._check(response, state, response.text)
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise ProviderError(f"{self.entry.id}: truncated or malformed answer ({len(response.content)} bytes)",
                                retryable=True) from None
        usage = data.get("usage") or {}
        in_tok = int(usage.get("prompt_tokens") or estimate_tokens(messages))
        out_tok = int(usage.get("completion_tokens") or max(1, len(text) // 4))
        return self._finish(response, text, choice.get("finish_reason"), in_tok, out_tok, reserved, latency, latency,
                            state, served=data.get("model"))

    def _stream_once(self, body: dict, messages: list[dict], params: dict, state: dict):
        reserved = self._reserve(messages, params, state)
        started = time.perf_counter()
        ttft, parts, finish, usage, done, served, answered = None, [], None, {}, False, None, False
        try:
            with self._http.stream("POST", "/chat/completions", json=body) as response:
                answered = True
                state["sent"] += 1
                if response.status_code >= 400:
                    self._check(response, state, response.read().decode(errors="replace"))
                self._check(response, state, "")
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        done = True
                        break
                    chunk = json.loads(data)
                    usage = chunk.get("usage") or usage
                    served = chunk.get("model") or served
                    for choice in chunk.get("choices") or []:
                        finish = choice.get("finish_reason") or finish
                        delta = (choice.get("delta") or {}).get("content")
                        if delta:
                            ttft = ttft if ttft is not None else time.perf_counter() - started
                            parts.append(delta)
                            state["yielded"] = True
                            yield delta
        except NOT_SENT as err:
            raise self._unreached(err, reserved) from None
        except httpx.TimeoutException:
            state["sent"] += not answered
            raise ProviderError(f"{self.entry.id}: stream timed out", retryable=not state["yielded"]) from None
        except (httpx.TransportError, ValueError) as err:
            state["sent"] += not answered
            raise ProviderError(f"{self.entry.id}: stream broken: {type(err).__name__}",
                                retryable=not state["yielded"]) from None
        if not done:
            raise ProviderError(f"{self.entry.id}: stream truncated after {len(parts)} chunks (no [DONE])",
                                retryable=not state["yielded"])
        text = "".join(parts)
        in_tok = int(usage.get("prompt_tokens") or estimate_tokens(messages))
        out_tok = int(usage.get("completion_tokens") or max(1, len(text) // 4))
        return self._finish(response, text, finish, in_tok, out_tok, reserved, time.perf_counter() - started, ttft,
                            state, served=served)
