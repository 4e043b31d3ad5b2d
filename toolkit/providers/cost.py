"""Money per call: what was charged, what the paid tier would have charged (shadow), what self-hosting cost.

Free tiers charge 0, so their interesting number is the shadow price; self-hosted endpoints cost capacity time,
taken from the server's own ``x-tierlab-cost-usd`` header when it knows better than we do.
"""

from toolkit.providers.catalog import Entry
from toolkit.records import Usage

SELFHOSTED_COST_HEADER = "x-tierlab-cost-usd"


def neurons(entry: Entry, input_tokens: int, output_tokens: int) -> int:
    """Cloudflare-style neurons a call consumes (0 for providers not metered in neurons)."""
    price = entry.price
    if price.neurons_per_m_input is None and price.neurons_per_m_output is None:
        return 0
    return round(input_tokens * (price.neurons_per_m_input or 0) / 1e6 + output_tokens * (price.neurons_per_m_output or 0) / 1e6)


def shadow_usd(entry: Entry, input_tokens: int, output_tokens: int) -> float:
    price = entry.price
    if price.usd_per_1k_neurons is not None:
        return neurons(entry, input_tokens, output_tokens) * price.usd_per_1k_neurons / 1000
    return input_tokens * price.input_per_m / 1e6 + output_tokens * price.output_per_m / 1e6


def usage_for(
    entry: Entry,
    input_tokens: int,
    output_tokens: int,
    latency_s: float,
    *,
    rate_limited: int = 0,
    served_cost_usd: str | None = None,
) -> Usage:
    """The ``Usage`` of one network call."""
    shadow = shadow_usd(entry, input_tokens, output_tokens)
    selfhosted = 0.0
    if entry.kind == "self-hosted":
        try:
            selfhosted = float(served_cost_usd) if served_cost_usd is not None else None
        except ValueError:
            selfhosted = None
        if selfhosted is None:
            selfhosted = latency_s * (entry.price.usd_per_hour or 0.0) / 3600
    return Usage(
        calls=1,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        rate_limited=rate_limited,
        latency_s=latency_s,
        cost_usd=shadow if entry.kind in ("paid", "trial") else 0.0,
        shadow_cost_usd=shadow,
        selfhosted_cost_usd=selfhosted,
    )
