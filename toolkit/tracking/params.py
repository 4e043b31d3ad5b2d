"""What a run's params look like: JSON values, sensibly rounded numbers, and nothing secret.

Secrets are kept out twice. By name: a param, tag or spec field whose name is secret-like (``api_key``, ``token``
as a word of its own, ``secret``, ``password``, ``authorization`` …) is masked, while ordinary names that merely
contain such a word (``max_tokens``, ``key_env``) are not. By value: every value of a secret-like environment
variable (the API keys a user exported) is scrubbed from any text before it reaches MLflow, wherever it hides
(a base URL query string, a prompt, an error message).
"""

import json
import math
import os
import re
from collections.abc import Iterable

MASK = "***"
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_SECRET_WORDS = frozenset(
    {"token", "secret", "password", "passwd", "passphrase", "authorization", "auth", "bearer", "credential",
     "credentials", "apikey", "cookie"}
)
_KEY_QUALIFIERS = frozenset({"api", "access", "secret", "private", "session", "signing", "client"})
MIN_SECRET_LENGTH = 8
"""Shorter environment values (``1``, ``true``) are too common to scrub as text."""


def _words(name: str) -> list[str]:
    """``"OPENROUTER_API_KEY"`` -> ``["openrouter", "api", "key"]``; ``"maxTokens"`` -> ``["max", "tokens"]``."""
    return [w.lower() for w in _WORD.findall(name)]


def _metric_name(name: str) -> bool:
    """``ci/quality/token_f1``: a param named after one of TierLab's metrics holds a figure, never a credential."""
    from toolkit.metrics import METRICS

    last = name.rsplit("/", 1)[-1]
    return any(last in (info.name, info.summary_name) for info in METRICS.infos())


def is_secret_name(name: str) -> bool:
    """True for names that hold credentials: ``api_key``, ``HF_TOKEN``, ``access_token``, ``Authorization``,
    ``client_secret``, ``password``, a bare ``key``; false for ``max_tokens``, ``key_env``, ``monkey`` and names
    ending in a metric's name (``ci/quality/token_f1``)."""
    if _metric_name(name):
        return False
    words = _words(name)
    if any(w in _SECRET_WORDS for w in words):
        return True
    if words == ["key"]:
        return True
    return any(w == "key" and i > 0 and words[i - 1] in _KEY_QUALIFIERS for i, w in enumerate(words))


def secret_values(environ: dict[str, str] | None = None, names: Iterable[str] = ()) -> tuple[str, ...]:
    """Values of secret-named environment variables (and of ``names``, e.g. the catalog's key variables), longest
    first so a key that contains another is masked whole."""
    env = os.environ if environ is None else environ
    wanted = set(names)
    values = {v for k, v in env.items() if (k in wanted or is_secret_name(k)) and len(v) >= MIN_SECRET_LENGTH}
    return tuple(sorted(values, key=len, reverse=True))


def scrub(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with every known secret value replaced by ``***``."""
    for value in secret_values() if secrets is None else secrets:
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact(data):
    """A copy of nested dicts/lists with secret-named fields masked (used on the spec before it is logged)."""
    if isinstance(data, dict):
        return {k: (MASK if is_secret_name(str(k)) and v not in (None, "") else redact(v)) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact(v) for v in data]
    return data


def round_float(value: float, digits: int = 6) -> float:
    """``0.30000000000000004`` -> ``0.3``; keeps ``digits`` significant digits, so small dollar amounts survive."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def _plain(value):
    if isinstance(value, float):
        return round_float(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    return value


def param_value(value) -> str:
    """How a value is written as an MLflow param: strings as they are, numbers as numbers (``24``, ``0.7``),
    booleans and None as JSON (``true``, ``null``), lists and dicts as JSON — never a Python repr."""
    if isinstance(value, str):
        return value
    return json.dumps(_plain(value), sort_keys=True, default=str)


def safe_params(params: dict, secrets: Iterable[str] | None = None) -> dict[str, str]:
    """Params as MLflow strings, secret-named ones masked and secret values scrubbed (MLflow caps values at 6000)."""
    secrets = secret_values() if secrets is None else tuple(secrets)
    return {
        k: MASK if is_secret_name(k) and v not in (None, "") else scrub(param_value(v), secrets)[:6000]
        for k, v in params.items()
    }
