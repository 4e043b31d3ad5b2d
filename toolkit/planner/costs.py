"""Money and capacity formulas, each a pure function so the plan's numbers can be checked by hand.

Conventions: prices are USD per million tokens, GPUs are billed always-on (a replica that must meet the peak stays
up all day), and "request" means one user question, however many model calls the method makes for it.
"""

import math


def request_cost(input_tokens: float, output_tokens: float, price_in_per_m: float, price_out_per_m: float) -> float:
    """USD for one request on a paid API, from its measured tokens (all calls of the method summed)."""
    return (input_tokens * price_in_per_m + output_tokens * price_out_per_m) / 1e6


def paid_monthly_cost(requests_per_day: float, cost_per_request: float, days_per_month: float = 30.0) -> float:
    return requests_per_day * cost_per_request * days_per_month


def cost_per_correct(cost_per_request: float, accuracy: float) -> float | None:
    """What one correct answer costs: the price of a request divided by the share answered correctly."""
    if accuracy <= 0:
        return None
    return cost_per_request / accuracy


def selfhosted_gpus(
    peak_concurrency: int,
    peak_requests_per_s: float,
    output_tokens_per_request: float,
    gpu_tokens_per_s: float,
    latency_target_s: float | None = None,
    stream_tokens_per_s: float | None = None,
) -> int | None:
    """GPUs needed so the peak is served and (if given) every in-flight request finishes within the latency target.

    Two throughput needs, take the larger: the peak hour's arrival rate times output tokens, and ``peak_concurrency``
    requests each producing its output within ``latency_target_s``. ``gpu_tokens_per_s`` is one GPU's aggregate
    decode throughput under load. Returns None when no GPU count can meet the target because a single stream decodes
    too slowly (``stream_tokens_per_s``), since adding GPUs does not make one stream faster.
    """
    if gpu_tokens_per_s <= 0:
        raise ValueError("gpu_tokens_per_s must be > 0: measure it (a self-hosted run) or set it in the catalog")
    if latency_target_s is not None and stream_tokens_per_s:
        if output_tokens_per_request / stream_tokens_per_s > latency_target_s:
            return None
    need = peak_requests_per_s * output_tokens_per_request
    if latency_target_s is not None:
        need = max(need, peak_concurrency * output_tokens_per_request / latency_target_s)
    return max(1, math.ceil(need / gpu_tokens_per_s - 1e-9))


def selfhosted_monthly_cost(gpus: int, gpu_hour_usd: float, days_per_month: float = 30.0) -> float:
    return gpus * gpu_hour_usd * 24 * days_per_month


def requests_per_gpu_day(gpu_tokens_per_s: float, output_tokens_per_request: float, peak_hour_fraction: float) -> float:
    """Daily requests one GPU can take when the busiest hour holds ``peak_hour_fraction`` of the day's traffic."""
    return gpu_tokens_per_s / output_tokens_per_request * 3600 / peak_hour_fraction


def break_even_requests_per_day(
    gpu_hour_usd: float, cost_per_request: float, requests_per_gpu_day: float | None = None
) -> float | None:
    """Daily traffic above which self-hosting costs less than the paid API.

    Paid cost grows linearly (R × c per day) while each GPU costs 24 × $/GPU-hour per day, so one GPU pays for itself
    at R* = 24 × $/GPU-hour / c. Because capacity is also linear in GPUs, the same R* per GPU holds for n GPUs; if one
    GPU cannot even carry R* requests a day, self-hosting never wins (None). None also when the API is free (c = 0).
    """
    if cost_per_request <= 0:
        return None
    r_star = 24 * gpu_hour_usd / cost_per_request
    if requests_per_gpu_day is not None and r_star > requests_per_gpu_day:
        return None
    return r_star
