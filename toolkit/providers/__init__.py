"""Free-tier cloud LLM APIs and self-hosted endpoints behind one quota-aware, cached, cost-measuring chat model.

Start here:

* ``catalog.yaml`` / ``catalog.py`` - every provider's limits, wire details and prices (``load_catalog``).
* ``get_chat_model("groq/llama-3.1-8b-instant")`` - a langchain-core chat model; pass a list for fallback.
* ``limits.py`` (client-side RPM/RPD/TPM/TPD), ``cache.py`` (replay), ``cost.py``, ``dialects.py`` (headers / 429s).
* ``endpoint.py`` - the endpoint identity cache and quota are keyed by (``remaining_quota`` reads it).
* ``emulator.py`` - an OpenAI-compatible free-tier emulator on 127.0.0.1 (``tierlab emulate``, ``running_emulator``).

Imports are lazy so ``import toolkit.providers`` stays cheap.
"""

from collections.abc import Sequence
from typing import Literal

from toolkit.registry import lazy_exports

_EXPORTS = {
    "load_catalog": "toolkit.providers.catalog:load_catalog",
    "CatalogError": "toolkit.providers.catalog:CatalogError",
    "ProviderChatModel": "toolkit.providers.chat_model:ProviderChatModel",
    "ProviderError": "toolkit.providers.client:ProviderError",
    "MissingKeyError": "toolkit.providers.keys:MissingKeyError",
    "QuotaExhausted": "toolkit.providers.limits:QuotaExhausted",
    "RateLimitWaitTooLong": "toolkit.providers.limits:RateLimitWaitTooLong",
    "running_emulator": "toolkit.providers.emulator:running_emulator",
    "Endpoint": "toolkit.providers.endpoint:Endpoint",
    "remaining_quota": "toolkit.providers.endpoint:remaining_quota",
}


def get_chat_model(
    provider_id: str | Sequence[str],
    *,
    cache: bool | Literal["always"] = True,
    base_url: str | dict[str, str] | None = None,
    emulated: bool = False,
    **params,
):
    """A chat model for one catalog id, or for an ordered fallback list of ids.

    ``base_url`` overrides the catalog URL (a string for one id, or ``{id: url}``), e.g. to point at an emulator;
    ``emulated=True`` says those URLs are TierLab emulators. Cache and quota belong to the endpoint (``endpoint.py``):
    an emulator's answers and quota never reach the real provider's arm. ``cache=True`` skips the cache for an
    emulator that injects faults; ``cache="always"`` caches those too. ``sample=i`` (a parameter or an ``invoke``
    keyword) marks the i-th of several samples of one request: not sent, only part of the cache key.
    Client options ``cache_ttl_s``, ``catalog_path``, ``env_file``, ``timeout_s``, ``max_retries``, ``max_wait_s``
    are taken from ``params``; everything else (temperature, max_tokens, seed, ...) is sent with every call.
    Unknown ids fail here, with "did you mean".
    """
    from toolkit.providers.catalog import load_catalog
    from toolkit.providers.chat_model import ProviderChatModel

    ids = (provider_id,) if isinstance(provider_id, str) else tuple(provider_id)
    if not ids:
        raise ValueError("get_chat_model needs at least one provider id, e.g. 'groq/llama-3.1-8b-instant'.")
    options = {k: params.pop(k) for k in list(params) if k in ProviderChatModel.model_fields and k not in ("params", "cache")}
    catalog = load_catalog(options.get("catalog_path"))
    for one in ids:
        catalog.entry(one)
    if isinstance(base_url, str):
        if len(ids) != 1:
            raise ValueError("a single base_url is ambiguous for a fallback list; pass {provider_id: url}.")
        base_url = {ids[0]: base_url}
    return ProviderChatModel(provider_ids=ids, params=params, response_cache=cache, emulated=emulated,
                             base_urls=base_url or {}, **options)


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
