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


def parse(dialect: str, status: int, headers, body: str = "") -> QuotaSignal:
    """Read one answer's quota signals. ``headers`` is any case-insensitive mapping (httpx.Headers)."""
    get = headers.get
    signal: dict = {"retry_after_s": parse_duration(get("retry-after"))}
    if dialect in ("groq", "openai", "mistral"):
        suffix = "-req-minute" if dialect == "mistral" else "-requests"
        signal["requests_remaining"] = _int(get(f"x-ratelimit-remaining{suffix}"))
        signal["requests_reset_s"] = parse_duration(get(f"x-ratelimit-reset{suffix}"))
        signal["requests_daily"] = dialect == "groq"
        tsuffix = "-tokens-minute" if dialect == "mistral" else "-tokens"
        signal["tokens_remaining"] = _int(get(f"x-ratelimit-remaining{tsuffix}"))
        signal["tokens_reset_s"] = parse_duration(get(f"x-ratelimit-reset{tsuffix}"))
    elif dialect == "cerebras":
        signal["requests_remaining"] = _int(get("x-ratelimit-remaining-requests-day"))
        signal["requests_reset_s"] = parse_duration(get("x-ratelimit-reset-requests-day"))
        signal["requests_daily"] = True
        signal["tokens_remaining"] = _int(get("x-ratelimit-remaining-tokens-minute"))
        signal["tokens_reset_s"] = parse_duration(get("x-ratelimit-reset-tokens-minute"))
    message, error = _message(body) if status >= 400 else ("", None)
    if dialect == "openrouter" and status == 429:
        meta = (error or {}).get("metadata", {}).get("headers", {}) if isinstance(error, dict) else {}
        remaining = _int(get("x-ratelimit-remaining") or meta.get("X-RateLimit-Remaining"))
        reset_ms = _int(get("x-ratelimit-reset") or meta.get("X-RateLimit-Reset"))
        signal["requests_remaining"] = remaining
        if reset_ms:
            signal["requests_reset_s"] = max(0.0, reset_ms / 1000 - time.time())
        signal["requests_daily"] = "per-day" in message
    if dialect == "gemini" and isinstance(error, dict):
        for detail in error.get("details", []) or []:
            if "RetryInfo" in str(detail.get("@type", "")):
                signal["retry_after_s"] = parse_duration(detail.get("retryDelay")) or signal["retry_after_s"]
            for violation in detail.get("violations", []) or []:
                if "PerDay" in str(violation.get("quotaId", "")):
                    signal["daily_exhausted"] = True
    if status == 429:
        daily_window_spent = signal.get("requests_daily") and signal.get("requests_remaining") == 0
        signal["daily_exhausted"] = bool(signal.get("daily_exhausted") or daily_window_spent or _DAILY.search(message))
        signal["message"] = message
    return QuotaSignal(**signal)


# --- emulator side -------------------------------------------------------------------------------------------


def render_headers(dialect: str, windows: dict[str, Window]) -> dict[str, str]:
    """Rate-limit headers a provider attaches to every answer, from the emulator's window state."""
    req_day = windows.get("rpd")  # Groq's and Cerebras' request headers count per day
    req_min = windows.get("rpm") or windows.get("rps")
    tok_min = windows.get("tpm")
    out: dict[str, str] = {}
    if dialect in ("groq", "openai") and (req := req_day if dialect == "groq" else req_min):
        out |= {
            "x-ratelimit-limit-requests": str(req.limit),
            "x-ratelimit-remaining-requests": str(req.remaining),
            "x-ratelimit-reset-requests": format_duration(req.reset_s),
        }
    if dialect in ("groq", "openai") and tok_min:
        out |= {
            "x-ratelimit-limit-tokens": str(tok_min.limit),
            "x-ratelimit-remaining-tokens": str(tok_min.remaining),
            "x-ratelimit-reset-tokens": format_duration(tok_min.reset_s),
        }
    if dialect == "cerebras" and req_day:
        out |= {
            "x-ratelimit-limit-requests-day": str(req_day.limit),
            "x-ratelimit-remaining-requests-day": str(req_day.remaining),
            "x-ratelimit-reset-requests-day": f"{req_day.reset_s:.2f}",
        }
    if dialect == "cerebras" and tok_min:
        out |= {
            "x-ratelimit-limit-tokens-minute": str(tok_min.limit),
            "x-ratelimit-remaining-tokens-minute": str(tok_min.remaining),
            "x-ratelimit-reset-tokens-minute": f"{tok_min.reset_s:.2f}",
        }
    if dialect == "mistral" and req_min:
        out |= {
            "x-ratelimit-limit-req-minute": str(req_min.limit),
            "x-ratelimit-remaining-req-minute": str(req_min.remaining),
        }
    return out


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


def render_429(dialect: str, model: str, failed: str, window: Window, retry_after_s: float) -> tuple[dict, object]:
    """Headers and JSON body of the provider's own 429 for the ``failed`` window (e.g. ``"rpm"``)."""
    wait = max(1, round(retry_after_s))
    headers = {"retry-after": str(wait)}
    what = _NAMES[failed]
    if dialect == "gemini":
        per_day = failed in DAILY_WINDOWS
        quota_id = f"GenerateRequestsPer{'Day' if per_day else 'Minute'}PerProjectPerModel-FreeTier"
        body = [{"error": {
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
        return headers, body
    if dialect == "openrouter":
        scope = "free-models-per-day" if failed in DAILY_WINDOWS else "free-models-per-min"
        reset_ms = int((time.time() + retry_after_s) * 1000)
        meta = {"X-RateLimit-Limit": str(window.limit), "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset_ms)}
        headers |= meta
        return headers, {"error": {"message": f"Rate limit exceeded: {scope}. ", "code": 429,
                                   "metadata": {"headers": meta}}}
    if dialect == "cerebras":
        return headers, {"message": f"{what.capitalize()} limit exceeded - too many requests sent.",
                         "type": "too_many_requests_error", "param": "quota", "code": "request_quota_exceeded"}
    if dialect == "cohere":
        return headers, {"message": f"You are using a Trial key, which is limited to {window.limit} {what}. "
                                    "Please upgrade to a Production key."}
    return headers, {"error": {
        "message": f"Rate limit reached for model `{model}` on {what}: Limit {window.limit}, "
                   f"Used {window.limit - window.remaining}, Requested 1. Please try again in {format_duration(retry_after_s)}.",
        "type": "tokens" if failed.startswith("t") else "requests",
        "code": "rate_limit_exceeded",
    }}
