"""Response cache on disk (diskcache under ``paths.subdir("cache")``).

Why: free quota is precious and experiments are re-run. The key is the endpoint's identity (``endpoint.py``: provider,
model, base URL or emulator options, key version), messages, generation parameters and the sample index (never the
API key); only successful answers are stored, so replaying a finished experiment makes no network call and returns
identical text and token counts, and an answer from one endpoint is never replayed for another.
"""

import hashlib
import json
from pathlib import Path

from toolkit import paths
from toolkit.providers.endpoint import Endpoint


def cache_key(endpoint: Endpoint, messages: list[dict], params: dict, sample: int | None = None) -> str:
    """``sample``: which of several deliberate samples of the same request this is (None: not one of several)."""
    payload = {"endpoint": endpoint.cache_identity(), "messages": messages, "params": params}
    if sample is not None:
        payload["sample"] = sample
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class ResponseCache:
    """A thin, process-safe wrapper over ``diskcache.Cache`` with an optional TTL."""

    def __init__(self, directory: str | Path | None = None, ttl_s: float | None = None):
        import diskcache

        self.ttl_s = ttl_s
        self._cache = diskcache.Cache(str(directory or paths.subdir("cache") / "responses"))

    def get(self, key: str) -> dict | None:
        return self._cache.get(key)

    def put(self, key: str, value: dict) -> None:
        self._cache.set(key, value, expire=self.ttl_s)

    def __len__(self) -> int:
        return len(self._cache)

    def clear(self) -> None:
        self._cache.clear()
