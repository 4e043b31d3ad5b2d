"""Planner pure functions against hand-computed cases (quota clock incl. Pacific day boundaries, break-even)."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from toolkit.planner import costs
from toolkit.planner.plan import Measured, Offer, make_plan, sensitivity
from toolkit.planner.quota import QuotaLimits, check_quota, provider_day, reset_zone
from toolkit.planner.workload import Workload, load_workload

UTC = ZoneInfo("UTC")
PACIFIC = ZoneInfo("America/Los_Angeles")


def morning_shape() -> tuple[float, ...]:
    """Traffic only in local hours 06:00–10:00."""
    return tuple(1.0 if 6 <= h < 10 else 0.0 for h in range(24))


def test_uniform_rpd_utc_breaks_at_hand_computed_minute():
    # 2,880 requests/day uniform = 2/min. RPD 1,000: the 1,001st request arrives in minute 500 = 08:20 UTC.
    w = Workload(daily_active_users=2880, requests_per_user=1)
    v = check_quota(QuotaLimits(rpd=1000, rpm=30), w)
    assert not v.holds
    assert v.first_break.limit == "rpd"
    assert v.first_break.breaks_at == datetime(2026, 1, 15, 8, 20, tzinfo=UTC)
    rpm = next(c for c in v.checks if c.limit == "rpm")
    assert rpm.breaks_at is None and rpm.peak_demand == pytest.approx(2.0) and rpm.headroom == pytest.approx(15.0)


def test_pacific_reset_moves_the_break_across_the_day_boundary_in_winter():
    # Users in UTC send 240 requests 06:00-10:00 UTC (1/min). Gemini-style RPD 150 resets at midnight Pacific
    # = 08:00 UTC on 2026-01-15 (PST, UTC-8). That Pacific day sees 08:00-10:00 UTC (120 requests) and, the next
    # morning, 06:00-08:00 UTC: the 151st request arrives at 06:30 UTC on the 16th = 22:30 PST on the 15th.
    w = Workload(daily_active_users=240, requests_per_user=1, traffic_shape=morning_shape(), reference_date=date(2026, 1, 15))
    v = check_quota(QuotaLimits(rpd=150, reset="pacific-midnight"), w)
    b = v.first_break
    assert b.limit == "rpd"
    assert b.breaks_at == datetime(2026, 1, 16, 6, 30, tzinfo=UTC)
    assert b.breaks_at_provider.replace(tzinfo=None) == datetime(2026, 1, 15, 22, 30)
    assert b.breaks_at_provider.utcoffset().total_seconds() == -8 * 3600
    # With a UTC reset the same traffic breaks 150 minutes after 06:00.
    utc = check_quota(QuotaLimits(rpd=150, reset="utc-midnight"), w).first_break
    assert utc.breaks_at == datetime(2026, 1, 15, 8, 30, tzinfo=UTC)


def test_pacific_reset_in_summer_uses_daylight_time():
    # On 2026-07-15 midnight PDT = 07:00 UTC: the day sees 07:00-10:00 UTC (180 requests), so the 151st request
    # arrives at 07:00 + 150 min = 09:30 UTC = 02:30 PDT.
    w = Workload(daily_active_users=240, requests_per_user=1, traffic_shape=morning_shape(), reference_date=date(2026, 7, 15))
    b = check_quota(QuotaLimits(rpd=150, reset="pacific-midnight"), w).first_break
    assert b.breaks_at == datetime(2026, 7, 15, 9, 30, tzinfo=UTC)
    assert b.breaks_at_provider.hour == 2 and b.breaks_at_provider.minute == 30


def test_dst_day_is_23_hours_and_users_local_hours_follow_their_zone():
    start, minutes = provider_day(Workload(daily_active_users=1, requests_per_user=1, reference_date=date(2026, 3, 8)),
                                  PACIFIC)
    assert minutes == 23 * 60 and start.hour == 0
    # Users in Berlin, traffic 06:00-10:00 Berlin (= 05:00-09:00 UTC in winter), 1/min; RPD 100 UTC reset:
    # the 101st request arrives at 06:00 + 100 min = 07:40 Berlin.
    w = Workload(daily_active_users=240, requests_per_user=1, timezone="Europe/Berlin", traffic_shape=morning_shape())
    b = check_quota(QuotaLimits(rpd=100), w).first_break
    assert (b.breaks_at.hour, b.breaks_at.minute) == (7, 40)
    assert (b.breaks_at_provider.hour, b.breaks_at_provider.minute) == (6, 40)


def test_token_limits_and_calls_per_request():
    # 1,440 requests/day uniform (1/min), CoVe makes 4 calls per request of 500 tokens: 4 calls/min, 2,000 tokens/min.
    w = Workload(daily_active_users=1440, requests_per_user=1)
    v = check_quota(QuotaLimits(rpm=30, tpm=1500, tpd=10**6), w, calls_per_request=4, tokens_per_call=500)
    assert v.first_break.limit == "tpm"
    assert v.first_break.breaks_at.hour == 0 and v.first_break.breaks_at.minute == 0
    tpd = next(c for c in v.checks if c.limit == "tpd")
    # 2,000 tokens/min: the running total passes 1,000,000 in minute 500 (1,002,000 > 1e6 at i=500).
    assert (tpd.breaks_at.hour, tpd.breaks_at.minute) == (8, 20)
    # The tightest limit is TPD: 2,880,000 tokens/day against 1,000,000 (TPM alone would allow 0.75x).
    assert v.max_traffic_multiplier == pytest.approx(1e6 / 2.88e6)


def test_hourly_and_monthly_windows():
    # 20 calls/min uniform: a sliding hour passes 900 (Cerebras-style RPH) in minute 45 (46 x 20 = 920).
    w = Workload(daily_active_users=20 * 1440, requests_per_user=1)
    rph = check_quota(QuotaLimits(rph=900), w).first_break
    assert rph.limit == "rph" and (rph.breaks_at.hour, rph.breaks_at.minute) == (0, 45)
    # Cohere-style 1,000 calls/month at 100/day: days 0-9 use it up, the first call of day 10 breaks it.
    month = check_quota(QuotaLimits(rpmonth=1000), Workload(daily_active_users=100, requests_per_user=1)).first_break
    assert month.breaks_at == datetime(2026, 1, 25, 0, 0, tzinfo=UTC)
    assert month.peak_demand == pytest.approx(3000) and "Jan 25" in check_quota(
        QuotaLimits(rpmonth=1000), Workload(daily_active_users=100, requests_per_user=1)).summary()


def test_catalog_entries_become_offers():
    from toolkit.planner.inputs import offer_from_entry
    from toolkit.providers.catalog import load_catalog

    catalog = load_catalog()
    groq = offer_from_entry(catalog.entry("groq/llama-3.1-8b-instant"))
    assert groq.free.rpd == 14400 and groq.free.reset == "utc-midnight" and groq.price_in_per_m == 0.05
    gemini = offer_from_entry(catalog.entry("gemini/gemini-2.5-flash"))
    assert gemini.free.reset == "pacific-midnight" and gemini.third_party
    local = offer_from_entry(catalog.entry("local/smollm2-135m-instruct"),
                             Workload(daily_active_users=1, requests_per_user=1,
                                      selfhosted_tokens_per_s={"local/smollm2-135m-instruct": 20}))
    assert not local.third_party and local.gpu_hour_usd == 0.0832 and local.gpu_tokens_per_s == 20


def test_quota_holds_reports_headroom():
    w = Workload(daily_active_users=100, requests_per_user=2)
    v = check_quota(QuotaLimits(rpm=30, rpd=1000), w)
    assert v.holds and v.first_break is None
    assert v.max_traffic_multiplier == pytest.approx(5.0)
    assert "holds" in v.summary()


def test_bad_inputs_say_how_to_fix(tmp_path):
    with pytest.raises(ValueError, match="IANA"):
        Workload(daily_active_users=1, requests_per_user=1, timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="24 hourly weights"):
        Workload(daily_active_users=1, requests_per_user=1, traffic_shape=(1, 2))
    with pytest.raises(ValueError, match="pacific-midnight"):
        reset_zone("tuesday")
    bad = tmp_path / "workload.yaml"
    bad.write_text("daily_active_users: 10\nrequests_per_user: 1\nusers: 5\n")
    with pytest.raises(ValueError, match="users"):
        load_workload(bad)
    with pytest.raises(FileNotFoundError, match="--workload"):
        load_workload(tmp_path / "missing.yaml")


def test_break_even_formula_by_hand():
    # $1.00/GPU-hour = $24/day; a request costs 200 in + 100 out tokens at $0.59/$0.79 per M = $0.000197.
    c = costs.request_cost(200, 100, 0.59, 0.79)
    assert c == pytest.approx(0.000197)
    assert costs.break_even_requests_per_day(1.0, c) == pytest.approx(24 / 0.000197)
    # If one GPU cannot carry that many requests a day, self-hosting never wins.
    assert costs.break_even_requests_per_day(1.0, c, requests_per_gpu_day=1000) is None
    assert costs.break_even_requests_per_day(1.0, 0.0) is None
    # At break-even the two monthly bills are equal.
    r = costs.break_even_requests_per_day(1.0, c)
    assert costs.paid_monthly_cost(r, c) == pytest.approx(costs.selfhosted_monthly_cost(1, 1.0))


def test_gpu_count_by_hand():
    # 40 in flight, 200 output tokens each within 2 s => 4,000 tok/s; 1,500 tok/s per GPU => 3 GPUs.
    assert costs.selfhosted_gpus(40, 0.5, 200, 1500, latency_target_s=2.0) == 3
    # Without a latency target only the arrival rate counts: 10 req/s × 200 = 2,000 tok/s => 2 GPUs.
    assert costs.selfhosted_gpus(40, 10, 200, 1500) == 2
    # A single stream at 50 tok/s needs 4 s for 200 tokens: no GPU count meets a 2 s target.
    assert costs.selfhosted_gpus(1, 0.1, 200, 1500, latency_target_s=2.0, stream_tokens_per_s=50) is None
    assert costs.cost_per_correct(0.01, 0.5) == pytest.approx(0.02)
    assert costs.cost_per_correct(0.01, 0.0) is None


def _setup():
    offers = [
        Offer(provider="groq-8b", free=QuotaLimits(rpm=30, rpd=14400, tpm=6000, tpd=500000),
              price_in_per_m=0.05, price_out_per_m=0.08),
        Offer(provider="gemini-flash", free=QuotaLimits(rpm=10, rpd=250, tpm=250000, reset="pacific-midnight"),
              price_in_per_m=0.30, price_out_per_m=2.50),
        Offer(provider="vllm-l4", third_party=False, gpu_hour_usd=0.805, gpu_tokens_per_s=1500, stream_tokens_per_s=60),
    ]
    measured = [
        Measured(provider="groq-8b", accuracy=0.7, input_tokens_per_request=300, output_tokens_per_request=50,
                 latency_p95_s=0.8, run_ids=("r1",)),
        Measured(provider="gemini-flash", accuracy=0.85, input_tokens_per_request=300, output_tokens_per_request=50,
                 latency_p95_s=2.5, run_ids=("r2",)),
        Measured(provider="vllm-l4", accuracy=0.6, input_tokens_per_request=300, output_tokens_per_request=50,
                 latency_p95_s=6.0, run_ids=("r3",)),
    ]
    return offers, measured


def test_plan_constraints_and_recommendation():
    offers, measured = _setup()
    small = Workload(daily_active_users=100, requests_per_user=5, peak_concurrency=2, latency_target_s=2.0)
    plan = make_plan(small, offers, measured)
    assert plan.recommended.label == "groq-8b (free)"
    by = {c.label: c for c in plan.choices}
    assert any("p95" in r for r in by["gemini-flash (free)"].excluded)  # 2.5 s > 2 s target
    assert any("RPD 250 breaks" in r for r in by["gemini-flash (free)"].excluded)  # 500 requests/day > 250 RPD
    assert not by["vllm-l4 (selfhosted)"].excluded and by["vllm-l4 (selfhosted)"].gpus == 1
    assert by["groq-8b (paid)"].monthly_usd == pytest.approx(500 * 30 * (300 * 0.05 + 50 * 0.08) / 1e6)
    assert plan.run_ids == ("r1", "r2", "r3")

    sensitive = make_plan(small.model_copy(update={"sensitive_data": True}), offers, measured)
    assert sensitive.recommended.label == "vllm-l4 (selfhosted)"
    assert all("sensitive" in " ".join(c.excluded) for c in sensitive.choices if c.provider != "vllm-l4")


def test_free_tier_breaking_moves_recommendation_and_sensitivity_shows_it():
    offers, measured = _setup()
    # 1,000 requests/day of 350 tokens = 350,000 tokens fits Groq's 500,000 TPD; doubled (700,000) it does not.
    w = Workload(daily_active_users=1000, requests_per_user=1, peak_concurrency=4)
    assert make_plan(w, offers, measured).recommended.label == "groq-8b (free)"
    rows = sensitivity(w, offers, measured)
    doubled = next(r for r in rows if r.scenario == "traffic x2")
    assert doubled.changed and doubled.recommended == "groq-8b (paid)"


def test_unknown_provider_in_runs_is_a_clear_error():
    offers, measured = _setup()
    with pytest.raises(ValueError, match="catalog"):
        make_plan(Workload(daily_active_users=1, requests_per_user=1), offers[:1], measured)


def test_planner_panel_recomputes_on_click():
    from toolkit.ui.planner import PlannerPanel

    offers, measured = _setup()
    panel = PlannerPanel(Workload(daily_active_users=100, requests_per_user=5), offers, measured)
    assert panel.plan.recommended.label == "groq-8b (free)"
    panel.sensitive.value = True
    panel.update.click()
    assert panel.plan.recommended.label == "vllm-l4 (selfhosted)"
    assert "Recommendation" in panel.report.value and "<table>" in panel.report.value


def test_plot_is_written(tmp_path):
    from toolkit.planner.plan import cost_curve
    from toolkit.planner.report import plot_cost_curve

    offers, measured = _setup()
    curves = cost_curve(Workload(daily_active_users=1000, requests_per_user=1), offers, measured)
    assert curves["groq-8b (free)"][:3] == [0.0, 0.0, 0.0] and curves["groq-8b (free)"][-1] is None  # breaks at 32x
    path = plot_cost_curve(curves, tmp_path / "c.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_an_arm_without_timed_calls_shows_no_p95():
    import pandas as pd

    from toolkit.planner.inputs import measured_from_runs
    from toolkit.planner.report import _seconds

    row = {"run_id": "r1", "params.provider": "local/smollm2-135m-instruct", "metrics.usage/answered": 4.0,
           "metrics.quality/accuracy": 0.5, "metrics.usage/calls": 4.0, "metrics.usage/output_tokens": 40.0,
           "metrics.latency/p50_s": 0.0, "metrics.latency/p95_s": 0.0}  # every answer replayed from a cache
    [measured] = measured_from_runs(pd.DataFrame([row]))
    assert measured.latency_p95_s is None and measured.stream_tokens_per_s is None
    assert _seconds(None) == "–" and _seconds(0.0042) == "0.0042" and _seconds(1.234) == "1.23"
