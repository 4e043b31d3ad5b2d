"""The provider client as a langchain-core chat model, with an ordered fallback list.

Chains (RAG, CoVe, judges) call ``invoke``/``stream`` and never see quotas or caches. Each answer carries
TierLab's measurements in ``response_metadata``: ``tierlab_usage`` (a ``records.Usage`` dict), the provider that
answered, whether it was emulated or cached, TTFT, latency, quota wait and any fallback switches.

``sample=i`` (in ``params`` or as an ``invoke`` keyword) marks a call as the i-th of several deliberate samples of
the same request: it is never sent to the provider, it only keys the response cache, so n samples are n answers.
"""

from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, convert_to_openai_messages
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

from toolkit import paths
from toolkit.providers.cache import ResponseCache
from toolkit.providers.catalog import Entry, load_catalog
from toolkit.providers.client import Completion, ProviderClient, ProviderError
from toolkit.providers.context import PromptBudget
from toolkit.providers.context import budget as context_budget
from toolkit.providers.endpoint import Endpoint, open_limiter
from toolkit.providers.keys import MissingKeyError
from toolkit.providers.limits import QuotaExhausted, QuotaLimiter, RateLimitWaitTooLong
from toolkit.records import USAGE_KEY, Usage

SWITCH_ON = (QuotaExhausted, RateLimitWaitTooLong, ProviderError, MissingKeyError)
"""Failures after which the next provider in the list takes over (retries already happened inside the client)."""


LimiterSource = Callable[[Endpoint], Any]
_limiter_source: LimiterSource | None = None


def use_limiter_source(source: LimiterSource | None) -> LimiterSource | None:
    """Take every endpoint's limiter from ``source`` in this process (a Ray worker: the cluster's quota actors,
    ``experiments/ray_quota.py``) instead of the node's own quota files; returns the previous source."""
    global _limiter_source
    previous, _limiter_source = _limiter_source, source
    return previous


def shared_limiter(entry: Entry, endpoint: Endpoint, quota_dir: str, max_wait_s: float) -> QuotaLimiter:
    """One limiter per endpoint and process, so threads queue in memory rather than on the file lock."""
    if _limiter_source is not None:
        return _limiter_source(endpoint)
    return _local_limiter(entry, endpoint, quota_dir, max_wait_s)


@lru_cache(maxsize=64)
def _local_limiter(entry: Entry, endpoint: Endpoint, quota_dir: str, max_wait_s: float) -> QuotaLimiter:
    from pathlib import Path

    return open_limiter(endpoint, entry.limits, root=Path(quota_dir), max_wait_s=max_wait_s)


def _switched_usage(switches: list[dict]) -> Usage:
    """What the providers a call switched away from cost at their servers (their failed requests)."""
    return sum((Usage(**s["spent"]) for s in switches if "spent" in s), Usage())


class ProviderChatModel(BaseChatModel):
    """Chat model over one or more catalog entries, tried in order (a single id is a list of one)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    provider_ids: tuple[str, ...] = Field(description="Catalog ids in fallback order, e.g. ('groq/llama-3.1-8b-instant',).")
    params: dict[str, Any] = Field(default_factory=dict, description="Generation parameters sent with every call.")
    response_cache: bool | Literal["always"] = Field(
        default=True,
        description="Answer repeated calls from TierLab's on-disk cache (replay); not langchain's own `cache` field. "
        "True skips the cache for an emulator that injects faults (a replay would hide them); 'always' does not.",
    )
    cache_ttl_s: float | None = None
    emulated: bool = Field(default=False, description="The base URLs are TierLab emulators: label results emulated and "
                           "key cache and quota by what each emulator runs (never by the real provider's state).")
    base_urls: dict[str, str] = Field(default_factory=dict, description="Per-id base URL overrides (e.g. an emulator).")
    catalog_path: str | None = None
    env_file: str | None = Field(default=None, description="Optional .env file to read API keys from.")
    timeout_s: float = 60.0
    max_retries: int = 4
    backoff_s: float = Field(default=0.5, description="First retry backoff; doubles per attempt, with jitter.")
    max_wait_s: float = Field(default=600.0, description="Longest client-side wait for a per-minute window.")

    _clients: dict[str, ProviderClient] = PrivateAttr(default_factory=dict)

    @property
    def _llm_type(self) -> str:
        return "tierlab-provider"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"provider_ids": self.provider_ids, **self.params}

    def client(self, provider_id: str) -> ProviderClient:
        if provider_id not in self._clients:
            entry = load_catalog(self.catalog_path).entry(provider_id)
            endpoint = Endpoint.of(entry, self.base_urls.get(provider_id), self.emulated)
            use_cache = self.response_cache == "always" or (self.response_cache and not endpoint.faults)
            self._clients[provider_id] = ProviderClient(
                entry,
                endpoint=endpoint,
                cache=ResponseCache(ttl_s=self.cache_ttl_s) if use_cache else None,
                limiter=shared_limiter(entry, endpoint, str(paths.subdir("quota")), self.max_wait_s),
                timeout_s=self.timeout_s,
                max_retries=self.max_retries,
                backoff_s=self.backoff_s,
                env_file=self.env_file,
            )
        return self._clients[provider_id]

    def prompt_budget(self) -> PromptBudget:
        """The prompt tokens a call may use: the smallest context window among the providers (the endpoint's own
        figure, else the catalog's) minus the completion's ``max_tokens`` (``toolkit.providers.context``)."""
        found = []
        for provider_id in self.provider_ids:
            try:
                client = self.client(provider_id)
            except MissingKeyError:
                continue  # a fallback that cannot be called never answers
            window, served = client.served_limits()
            origin = f"{provider_id} endpoint" if window else f"{provider_id} catalog"
            found.append((window or client.entry.context_window, served or client.entry.model, origin))
        if not found:
            raise MissingKeyError(f"no provider of {list(self.provider_ids)} can be called (API keys missing)")
        window, served, origin = min(found)
        reserve = self.params.get("max_tokens") or self.params.get("max_completion_tokens")
        return context_budget(window, served, reserve, origin)

    def _request(self, messages: list[BaseMessage], stop: list[str] | None,
                 kwargs: dict) -> tuple[list[dict], dict, int | None]:
        params = {**self.params, **kwargs}
        if stop:
            params["stop"] = stop
        sample = params.pop("sample", None)
        return convert_to_openai_messages(messages), params, None if sample is None else int(sample)

    @staticmethod
    def _metadata(done: Completion, switches: list[dict]) -> dict:
        return {
            USAGE_KEY: (done.usage + _switched_usage(switches)).model_dump(),
            "tierlab_provider": done.provider,
            "tierlab_emulated": done.emulated,
            "tierlab_cached": done.cached,
            "tierlab_ttft_s": done.ttft_s,
            "tierlab_latency_s": done.usage.latency_s,
            "tierlab_waited_s": done.waited_s,
            "tierlab_switches": switches,
            "tierlab_quota": done.quota,
            "model_name": done.model,
            "tierlab_served_model": done.served_model,
            "finish_reason": done.finish_reason,
        }

    @staticmethod
    def _usage_metadata(done: Completion) -> dict:
        u = done.usage
        return {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens, "total_tokens": u.total_tokens}

    def _switch(self, switches: list[dict], index: int, error: Exception) -> None:
        """Record a switch to the next provider, with what the failed one cost at its server; after the last
        provider, re-raise with the cost of every failed attempt attached (``error.usage``)."""
        spent = getattr(error, "usage", None)
        if index == len(self.provider_ids) - 1:
            if switches:
                error.add_note(f"fallback switches before this failure: {switches}")
                error.usage = (spent or Usage()) + _switched_usage(switches)
            raise error
        switches.append({"from": self.provider_ids[index], "to": self.provider_ids[index + 1],
                         "reason": f"{type(error).__name__}: {str(error)[:300]}",
                         **({"spent": spent.model_dump()} if spent else {})})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        payload, params, sample = self._request(messages, stop, kwargs)
        switches: list[dict] = []
        for index, provider_id in enumerate(self.provider_ids):
            try:
                done = self.client(provider_id).complete(payload, params, sample)
                break
            except SWITCH_ON as error:
                self._switch(switches, index, error)
        message = AIMessage(content=done.text, response_metadata=self._metadata(done, switches),
                            usage_metadata=self._usage_metadata(done))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        payload, params, sample = self._request(messages, stop, kwargs)
        switches: list[dict] = []
        for index, provider_id in enumerate(self.provider_ids):
            started = False
            try:
                for part in self.client(provider_id).stream(payload, params, sample):
                    if isinstance(part, Completion):
                        chunk = AIMessageChunk(content="", response_metadata=self._metadata(part, switches),
                                               usage_metadata=self._usage_metadata(part), chunk_position="last")
                        yield ChatGenerationChunk(message=chunk)
                        return
                    started = True
                    if run_manager:
                        run_manager.on_llm_new_token(part)
                    yield ChatGenerationChunk(message=AIMessageChunk(content=part))
            except SWITCH_ON as error:
                if started:  # text already went out; switching now would splice two answers
                    raise
                self._switch(switches, index, error)
