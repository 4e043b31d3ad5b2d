"""Turn measurements and offers into priced choices, a recommendation and a sensitivity table.

A *choice* is one way to serve the workload: a provider's free tier, its paid tier, or a self-hosted profile. Hard
constraints (sensitive data, latency, quotas, accuracy floor, budget) exclude choices with a stated reason; the
cheapest remaining choice is recommended, ties going to the more accurate one.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from toolkit.planner import costs
from toolkit.planner.quota import QuotaLimits, QuotaVerdict, check_quota
from toolkit.planner.workload import Workload

Tier = Literal["free", "paid", "selfhosted"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Measured(_Frozen):
    """What finished runs measured for one provider (and method), per user request."""

    provider: str = Field(description="The arm's provider label (an emulated and a real arm of one id differ).")
    catalog_id: str = Field(default="", description="Catalog id whose offer prices it (default: ``provider``).")
    method: str = ""
    accuracy: float = Field(ge=0, le=1)
    hallucination_rate: float | None = None
    calls_per_request: float = Field(default=1.0, gt=0)
    input_tokens_per_request: float = Field(ge=0)
    output_tokens_per_request: float = Field(ge=0)
    latency_p95_s: float | None = None
    stream_tokens_per_s: float | None = Field(default=None, description="Output tokens/s of one request, if measured.")
    retrieval: str = Field(default="", description="RAG arms: what retrieval searched and how good it was "
                           "(scope, recall@k, MRR, gold-chunk share), as the arm run logged it.")
    n_questions: int = 0
    run_ids: tuple[str, ...] = ()

    @property
    def tokens_per_call(self) -> float:
        return (self.input_tokens_per_request + self.output_tokens_per_request) / self.calls_per_request


class Offer(_Frozen):
    """What a provider sells, from the catalog: free limits, paid prices, or GPU pricing when self-hosted."""

    provider: str
    third_party: bool = Field(default=True, description="False for self-hosted: data stays on our machines.")
    free: QuotaLimits | None = None
    price_in_per_m: float | None = None
    price_out_per_m: float | None = None
    gpu_hour_usd: float | None = Field(default=None, description="$ per accelerator-hour (a GPU, or a CPU node).")
    accelerator: Literal["gpu", "cpu"] = Field(default="gpu", description="What self-hosting rents by the hour.")
    gpu_tokens_per_s: float | None = Field(default=None, description="One GPU's aggregate output tokens/s under load.")
    stream_tokens_per_s: float | None = Field(default=None, description="One request's decode speed on that GPU.")


class Choice(_Frozen):
    provider: str
    tier: Tier
    method: str = ""
    accuracy: float
    n_questions: int = Field(default=0, description="Questions the accuracy was measured on (0: unknown).")
    hallucination_rate: float | None = None
    latency_p95_s: float | None = None
    cost_per_request: float | None = None
    monthly_usd: float | None = None
    cost_per_correct: float | None = None
    gpus: int | None = Field(default=None, description="Accelerators to rent (GPUs, or CPU nodes: see accelerator).")
    accelerator: Literal["gpu", "cpu"] = "gpu"
    accelerator_hours_per_month: float | None = Field(default=None, description="gpus x 24 h x days per month.")
    quota: QuotaVerdict | None = None
    break_even_requests_per_day: float | None = None
    retrieval: str = Field(default="", description="RAG choices: the retrieval behind the measured accuracy.")
    excluded: tuple[str, ...] = Field(default=(), description="Why this choice cannot serve the workload; empty = feasible.")

    @property
    def label(self) -> str:
        method = f" [{self.method}]" if self.method else ""
        return f"{self.provider}{method} ({self.tier})"


class Plan(_Frozen):
    workload: Workload
    choices: tuple[Choice, ...]
    recommended: Choice | None
    reason: str
    caveat: str = Field(default="", description="Why the accuracy side of the recommendation is not settled, if so.")
    run_ids: tuple[str, ...] = ()


def _paid_request_cost(offer: Offer, m: Measured, price_factor: float) -> float | None:
    if offer.price_in_per_m is None or offer.price_out_per_m is None:
        return None
    return costs.request_cost(
        m.input_tokens_per_request,
        m.output_tokens_per_request,
        offer.price_in_per_m * price_factor,
        offer.price_out_per_m * price_factor,
    )


def price_choices(
    workload: Workload, offer: Offer, measured: Measured, api_price_factor: float = 1.0, gpu_price_factor: float = 1.0
) -> list[Choice]:
    """Every tier ``offer`` has, priced for ``workload`` with the per-request figures of ``measured``."""
    w, m = workload, measured
    base = dict(
        provider=offer.provider,
        method=m.method,
        accuracy=m.accuracy,
        n_questions=m.n_questions,
        hallucination_rate=m.hallucination_rate,
        latency_p95_s=m.latency_p95_s,
        retrieval=m.retrieval,
    )
    common: list[str] = []
    if w.sensitive_data and offer.third_party:
        common.append("sensitive data: third-party APIs are excluded")
    if w.min_accuracy is not None and m.accuracy < w.min_accuracy:
        common.append(f"accuracy {m.accuracy:.2f} below min_accuracy {w.min_accuracy:.2f}")
    api_latency = []
    if w.latency_target_s is not None and m.latency_p95_s is not None and m.latency_p95_s > w.latency_target_s:
        api_latency.append(f"measured p95 {m.latency_p95_s:.2f}s misses the {w.latency_target_s:g}s target")
    choices = []
    paid_cost = _paid_request_cost(offer, m, api_price_factor)

    if offer.free is not None:
        verdict = check_quota(offer.free, w, m.calls_per_request, m.tokens_per_call)
        reasons = common + api_latency + ([] if verdict.holds else [f"free tier: {verdict.summary()}"])
        choices.append(Choice(**base, tier="free", cost_per_request=0.0, monthly_usd=0.0, cost_per_correct=0.0,
                              quota=verdict, excluded=tuple(reasons)))

    if offer.gpu_hour_usd is None and paid_cost is not None:
        monthly = costs.paid_monthly_cost(w.requests_per_day, paid_cost, w.days_per_month)
        reasons = common + api_latency + _over_budget(w, monthly)
        choices.append(Choice(**base, tier="paid", cost_per_request=paid_cost, monthly_usd=monthly,
                              cost_per_correct=costs.cost_per_correct(paid_cost, m.accuracy), excluded=tuple(reasons)))

    if offer.gpu_hour_usd is not None:
        choices.append(_selfhosted(w, offer, m, gpu_price_factor, base, common))
    return choices


def _over_budget(w: Workload, monthly: float | None) -> list[str]:
    if w.monthly_budget_usd is not None and monthly is not None and monthly > w.monthly_budget_usd:
        return [f"${monthly:,.2f}/month is over the ${w.monthly_budget_usd:,.2f} budget"]
    return []


def _selfhosted(w: Workload, offer: Offer, m: Measured, gpu_price_factor: float, base: dict, common: list[str]) -> Choice:
    gpu_hour = offer.gpu_hour_usd * gpu_price_factor
    if not offer.gpu_tokens_per_s:
        return Choice(**base, tier="selfhosted", excluded=(*common, "no GPU throughput: set gpu_tokens_per_s in the catalog"))
    peak_fraction = max(w.hourly_fractions)
    gpus = costs.selfhosted_gpus(
        peak_concurrency=w.peak_concurrency,
        peak_requests_per_s=w.requests_per_day * peak_fraction / 3600,
        output_tokens_per_request=m.output_tokens_per_request,
        gpu_tokens_per_s=offer.gpu_tokens_per_s,
        latency_target_s=w.latency_target_s,
        stream_tokens_per_s=offer.stream_tokens_per_s or m.stream_tokens_per_s,
    )
    if gpus is None:
        return Choice(**base, tier="selfhosted",
                      excluded=(*common, f"one stream decodes too slowly for the {w.latency_target_s:g}s target"))
    monthly = costs.selfhosted_monthly_cost(gpus, gpu_hour, w.days_per_month)
    per_request = monthly / (w.requests_per_day * w.days_per_month)
    return Choice(**base, tier="selfhosted", gpus=gpus, accelerator=offer.accelerator,
                  accelerator_hours_per_month=gpus * 24 * w.days_per_month,
                  monthly_usd=monthly, cost_per_request=per_request,
                  cost_per_correct=costs.cost_per_correct(per_request, m.accuracy),
                  excluded=tuple(common + _over_budget(w, monthly)))


def _with_break_even(choices: list[Choice], workload: Workload, offers: dict[str, Offer], measured: dict[str, Measured],
                     gpu_price_factor: float) -> list[Choice]:
    """Attach to each paid choice the traffic at which the cheapest self-hosted profile beats it."""
    hosts = [offers[c.provider] for c in choices if c.tier == "selfhosted" and offers[c.provider].gpu_tokens_per_s]
    out = []
    for c in choices:
        if c.tier == "paid" and hosts and c.cost_per_request:
            candidates = []
            for h in hosts:
                capacity = costs.requests_per_gpu_day(
                    h.gpu_tokens_per_s, max(measured[h.provider].output_tokens_per_request, 1.0),
                    max(workload.hourly_fractions),
                )
                be = costs.break_even_requests_per_day(h.gpu_hour_usd * gpu_price_factor, c.cost_per_request, capacity)
                if be is not None:
                    candidates.append(be)
            c = c.model_copy(update={"break_even_requests_per_day": min(candidates) if candidates else None})
        out.append(c)
    return out


def make_plan(
    workload: Workload,
    offers: list[Offer],
    measured: list[Measured],
    api_price_factor: float = 1.0,
    gpu_price_factor: float = 1.0,
) -> Plan:
    """Price every measured provider that has an offer and pick the cheapest feasible choice."""
    offer_by = {o.provider: o for o in offers}
    measured_by = {m.provider: m for m in measured}  # per provider: the first measured method sizes its GPUs
    missing = sorted(set(measured_by) - set(offer_by))
    if missing:
        raise ValueError(
            f"no catalog entry (offer) for measured provider(s) {missing}: add them to the catalog or drop those runs"
        )
    if not measured:
        raise ValueError("no measured runs: run an experiment first (tierlab run …) and pass its run ids with --runs")
    choices = [c for m in measured for c in price_choices(workload, offer_by[m.provider], m, api_price_factor,
                                                          gpu_price_factor)]
    choices = _with_break_even(choices, workload, offer_by, measured_by, gpu_price_factor)
    feasible = [c for c in choices if not c.excluded]
    feasible.sort(key=lambda c: (c.monthly_usd, -c.accuracy))
    if feasible:
        best = feasible[0]
        reason = f"cheapest feasible choice: {best.label} at ${best.monthly_usd:,.2f}/month, accuracy {best.accuracy:.2f}"
    else:
        best, reason = None, "no choice satisfies the constraints: " + "; ".join(
            f"{c.label}: {', '.join(c.excluded)}" for c in choices
        )
    run_ids = tuple(sorted({r for m in measured for r in m.run_ids}))
    return Plan(workload=workload, choices=tuple(choices), recommended=best, reason=reason,
                caveat=accuracy_caveat(best, feasible), run_ids=run_ids)


def accuracy_caveat(best: Choice | None, feasible: list[Choice]) -> str:
    """Say so when the measured accuracies cannot tell the recommendation from a more accurate feasible choice:
    too few questions to test (``MIN_PAIRS``) or overlapping Wilson intervals. Then the pick rests on cost alone."""
    from toolkit.metrics.stats import MIN_PAIRS, proportion_ci

    if best is None:
        return ""
    rivals = [c for c in feasible if (c.provider, c.method) != (best.provider, best.method)]
    if not rivals:
        return ""
    small = sorted({c.n_questions for c in (best, *rivals) if c.n_questions < MIN_PAIRS})
    if small:
        return (f"accuracy was measured on only {small[0]} question(s) (fewer than {MIN_PAIRS}): too few to tell these "
                "choices apart on accuracy; the recommendation rests on cost. Run a larger sample (see `tierlab power`).")

    def interval(c: Choice):
        return proportion_ci(round(c.accuracy * c.n_questions), c.n_questions)

    low = interval(best)
    close = [c for c in rivals if c.accuracy > best.accuracy and interval(c).low <= low.high]
    if close:
        names = ", ".join(c.label for c in close)
        return (f"{names} measured more accurate, but within the intervals (n={best.n_questions} vs "
                f"{', '.join(str(c.n_questions) for c in close)}): the data cannot tell them apart on accuracy.")
    return ""


class Scenario(_Frozen):
    name: str
    traffic: float = 1.0
    api_price: float = 1.0
    gpu_price: float = 1.0


DEFAULT_SCENARIOS = (
    Scenario(name="as measured"),
    Scenario(name="traffic x2", traffic=2.0),
    Scenario(name="traffic x10", traffic=10.0),
    Scenario(name="API prices x2", api_price=2.0),
    Scenario(name="API prices x0.5", api_price=0.5),
    Scenario(name="GPU price x0.5", gpu_price=0.5),
)


class SensitivityRow(_Frozen):
    scenario: str
    recommended: str
    monthly_usd: float | None
    accuracy: float | None
    changed: bool = Field(description="True when the recommendation differs from the as-measured one.")


def sensitivity(workload: Workload, offers: list[Offer], measured: list[Measured],
                scenarios: tuple[Scenario, ...] = DEFAULT_SCENARIOS) -> list[SensitivityRow]:
    """How the recommendation moves when traffic or prices change."""
    rows, base = [], None
    for s in scenarios:
        plan = make_plan(workload.scaled(s.traffic), offers, measured, s.api_price, s.gpu_price)
        label = plan.recommended.label if plan.recommended else "none feasible"
        base = label if base is None else base
        rows.append(SensitivityRow(
            scenario=s.name, recommended=label,
            monthly_usd=plan.recommended.monthly_usd if plan.recommended else None,
            accuracy=plan.recommended.accuracy if plan.recommended else None, changed=label != base,
        ))
    return rows


def cost_curve(workload: Workload, offers: list[Offer], measured: list[Measured],
               multipliers: tuple[float, ...] = (0.25, 0.5, 1, 2, 4, 8, 16, 32)) -> dict[str, list[float | None]]:
    """Monthly cost of each choice as traffic scales (None where the choice is excluded), for the sensitivity plot."""
    curves: dict[str, list[float | None]] = {}
    for k in multipliers:
        for c in make_plan(workload.scaled(k), offers, measured).choices:
            curves.setdefault(c.label, []).append(None if c.excluded else c.monthly_usd)
    return {"traffic_multiplier": list(multipliers), **curves}
