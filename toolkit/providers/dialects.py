"""How each provider signals rate limits on the wire: headers on every answer, and its 429 body.

Both directions live here so they cannot drift apart: the client ``parse``s what a provider says about its
quota, and the emulator ``render``s the same provider's headers and 429 bodies. Formats follow the vendors'
docs (see ``catalog.yaml``: ``rate_limit_headers``); where a vendor documents nothing we fall back to the
OpenAI convention and to ``Retry-After``.
"""

import json
import re
import time
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict

from toolkit.registry import Registry


class Window(NamedTuple):
    """One limit window as the server sees it."""

    limit: int
    remaining: int
    reset_s: float


class QuotaSignal(BaseModel):
    """What an answer told us about the remaining quota (all fields optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retry_after_s: float | None = None
    requests_remaining: int | None = None
    requests_reset_s: float | None = None
    requests_daily: bool = False
    tokens_remaining: int | None = None
    tokens_reset_s: float | None = None
    daily_exhausted: bool = False
    message: str = ""


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(text: str | None) -> float | None:
    """``"2m59.56s"``, ``"7.66s"``, ``"120ms"`` (Groq/OpenAI) or plain seconds (Cerebras) -> seconds."""
    if text is None:
        return None
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts:
        return None
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(value) * scale[unit] for value, unit in parts)


def format_duration(seconds: float) -> str:
    minutes, secs = divmod(max(0.0, seconds), 60)
    return f"{int(minutes)}m{secs:.2f}s" if minutes else f"{secs:.2f}s"


def _int(value) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _message(body: str) -> tuple[str, object]:
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return body[:500], None
    if isinstance(data, list) and data:  # Gemini's OpenAI-compatible endpoint wraps the error in a list
        data = data[0]
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            return str(error.get("message", "")), error
        return str(error), data
    return body[:500], data


_DAILY = re.compile(r"per[ -]day|PerDay|daily|per month|/ month|monthly", re.IGNORECASE)


def _window_headers(suffix: str, window: Window, reset) -> dict[str, str]:
    return {
        f"x-ratelimit-limit{suffix}": str(window.limit),
        f"x-ratelimit-remaining{suffix}": str(window.remaining),
        f"x-ratelimit-reset{suffix}": reset(window.reset_s),
    }


_NAMES = {
    "rps": "requests per second (RPS)",
    "rpm": "requests per minute (RPM)",
    "rph": "requests per hour (RPH)",
    "rpd": "requests per day (RPD)",
    "rpmonth": "requests per month",
    "tpm": "tokens per minute (TPM)",
    "tph": "tokens per hour (TPH)",
    "tpd": "tokens per day (TPD)",
    "tpmonth": "tokens per month",
    "neurons_per_day": "neurons per day",
}
DAILY_WINDOWS = ("rpd", "tpd", "rpmonth", "tpmonth", "neurons_per_day")




class Dialect:
    """How one provider speaks about its quota, both ways: what the client ``read``s from an answer, and the
    ``headers`` and 429 ``body`` the emulator renders. The base speaks only ``Retry-After`` and OpenAI's 429 body."""

    def read(self, get, status: int, message: str, error: object, signal: dict) -> dict:
        """Quota fields beyond ``retry_after_s`` (``get``: case-insensitive header lookup)."""
        return {}

    def headers(self, windows: dict[str, Window]) -> dict[str, str]:
        return {}

    def body_429(self, model: str, failed: str, window: Window, retry_after_s: float, headers: dict) -> object:
        what = _NAMES[failed]
        return {"error": {
            "message": f"Rate limit reached for model `{model}` on {what}: Limit {window.limit}, "
                       f"Used {window.limit - window.remaining}, Requested 1. Please try again in {format_duration(retry_after_s)}.",
            "type": "tokens" if failed.startswith("t") else "requests",
            "code": "rate_limit_exceeded",
        }}


class OpenAIHeaders(Dialect):
    """``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` on every answer (OpenAI; Groq counts requests per day)."""

    requests, tokens, daily = "-requests", "-tokens", False

    def request_window(self, windows: dict[str, Window]) -> Window | None:
        return windows.get("rpm") or windows.get("rps")

    def reset(self, seconds: float) -> str:
        return format_duration(seconds)

    def read(self, get, status, message, error, signal):
        return {
            "requests_remaining": _int(get(f"x-ratelimit-remaining{self.requests}")),
            "requests_reset_s": parse_duration(get(f"x-ratelimit-reset{self.requests}")),
            "requests_daily": self.daily,
            "tokens_remaining": _int(get(f"x-ratelimit-remaining{self.tokens}")),
            "tokens_reset_s": parse_duration(get(f"x-ratelimit-reset{self.tokens}")),
        }

    def headers(self, windows):
        out: dict[str, str] = {}
        if req := self.request_window(windows):
            out |= _window_headers(self.requests, req, self.reset)
        if tok := windows.get("tpm"):
            out |= _window_headers(self.tokens, tok, self.reset)
        return out


class Groq(OpenAIHeaders):
    daily = True

    def request_window(self, windows):
        return windows.get("rpd")  # Groq's request headers count per day


class Mistral(OpenAIHeaders):
    requests, tokens = "-req-minute", "-tokens-minute"

    def headers(self, windows):
        req = self.request_window(windows)
        if not req:
            return {}
        return {"x-ratelimit-limit-req-minute": str(req.limit), "x-ratelimit-remaining-req-minute": str(req.remaining)}


class Cerebras(OpenAIHeaders):
    requests, tokens, daily = "-requests-day", "-tokens-minute", True

    def request_window(self, windows):
        return windows.get("rpd")

    def reset(self, seconds: float) -> str:
        return f"{seconds:.2f}"  # plain seconds

    def body_429(self, model, failed, window, retry_after_s, headers):
        return {"message": f"{_NAMES[failed].capitalize()} limit exceeded - too many requests sent.",
                "type": "too_many_requests_error", "param": "quota", "code": "request_quota_exceeded"}


class OpenRouter(Dialect):
    """Limits only on a 429, in headers or echoed in the error's metadata; reset in epoch milliseconds."""

    def read(self, get, status, message, error, signal):
        if status != 429:
            return {}
        meta = (error or {}).get("metadata", {}).get("headers", {}) if isinstance(error, dict) else {}
        reset_ms = _int(get("x-ratelimit-reset") or meta.get("X-RateLimit-Reset"))
        found = {"requests_remaining": _int(get("x-ratelimit-remaining") or meta.get("X-RateLimit-Remaining")),
                 "requests_daily": "per-day" in message}
        if reset_ms:
            found["requests_reset_s"] = max(0.0, reset_ms / 1000 - time.time())
        return found

    def body_429(self, model, failed, window, retry_after_s, headers):
        scope = "free-models-per-day" if failed in DAILY_WINDOWS else "free-models-per-min"
        reset_ms = int((time.time() + retry_after_s) * 1000)
        meta = {"X-RateLimit-Limit": str(window.limit), "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset_ms)}
        headers |= meta
        return {"error": {"message": f"Rate limit exceeded: {scope}. ", "code": 429, "metadata": {"headers": meta}}}


class Gemini(Dialect):
    """No rate-limit headers; a 429 carries ``RetryInfo`` and a ``QuotaFailure`` naming the per-day quota."""

    def read(self, get, status, message, error, signal):
        found: dict = {}
        if not isinstance(error, dict):
            return found
        for detail in error.get("details", []) or []:
            if "RetryInfo" in str(detail.get("@type", "")):
                found["retry_after_s"] = parse_duration(detail.get("retryDelay")) or signal["retry_after_s"]
            for violation in detail.get("violations", []) or []:
                if "PerDay" in str(violation.get("quotaId", "")):
                    found["daily_exhausted"] = True
        return found

    def body_429(self, model, failed, window, retry_after_s, headers):
        wait = headers["retry-after"]
        per_day = failed in DAILY_WINDOWS
        quota_id = f"GenerateRequestsPer{'Day' if per_day else 'Minute'}PerProjectPerModel-FreeTier"
        return [{"error": {
            "code": 429,
            "message": f"You exceeded your current quota, please check your plan and billing details. "
                       f"Quota exceeded for metric: generate_content_free_tier_requests, limit: {window.limit}",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                    "quotaId": quota_id, "quotaDimensions": {"model": model}, "quotaValue": str(window.limit)}]},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{wait}s"},
            ],
        }}]


class Cohere(Dialect):
    def body_429(self, model, failed, window, retry_after_s, headers):
        return {"message": f"You are using a Trial key, which is limited to {window.limit} {_NAMES[failed]}. "
                           "Please upgrade to a Production key."}


DIALECTS = Registry("provider dialect")
"""The one list of dialects: a catalog entry's ``dialect`` must name one (add a provider's way here, once)."""
DIALECTS.register("openai", OpenAIHeaders())
DIALECTS.register("groq", Groq())
DIALECTS.register("mistral", Mistral())
DIALECTS.register("cerebras", Cerebras())
DIALECTS.register("openrouter", OpenRouter())
DIALECTS.register("gemini", Gemini())
DIALECTS.register("cohere", Cohere())
DIALECTS.register("none", Dialect())


def parse(dialect: str, status: int, headers, body: str = "") -> QuotaSignal:
    """Read one answer's quota signals. ``headers`` is any case-insensitive mapping (httpx.Headers)."""
    get = headers.get
    signal: dict = {"retry_after_s": parse_duration(get("retry-after"))}
    message, error = _message(body) if status >= 400 else ("", None)
    signal |= DIALECTS.get(dialect).read(get, status, message, error, signal)
    if status == 429:
        daily_window_spent = signal.get("requests_daily") and signal.get("requests_remaining") == 0
        signal["daily_exhausted"] = bool(signal.get("daily_exhausted") or daily_window_spent or _DAILY.search(message))
        signal["message"] = message
    return QuotaSignal(**signal)


# --- emulator side -------------------------------------------------------------------------------------------


def render_headers(dialect: str, windows: dict[str, Window]) -> dict[str, str]:
    """Rate-limit headers a provider attaches to every answer, from the emulator's window state."""
    return DIALECTS.get(dialect).headers(windows)


def render_429(dialect: str, model: str, failed: str, window: Window, retry_after_s: float) -> tuple[dict, object]:
    """Headers and JSON body of the provider's own 429 for the ``failed`` window (e.g. ``"rpm"``)."""
    headers = {"retry-after": str(max(1, round(retry_after_s)))}
    body = DIALECTS.get(dialect).body_429(model, failed, window, retry_after_s, headers)
    return headers, body
