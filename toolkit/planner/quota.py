"""Free-tier quota arithmetic: which limit (RPM, RPD, TPM, TPD) a workload breaks first, and when.

Daily limits reset at midnight in the *provider's* zone (UTC for most, Pacific for Gemini) while traffic follows the
*users'* local hours, so the day is simulated minute by minute in absolute time on the workload's reference date
(zoneinfo handles 23- and 25-hour DST days). Rates are spread evenly inside each local hour.
"""

from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from toolkit.planner.workload import Workload

LimitName = Literal["rpm", "rph", "rpd", "rpmonth", "tpm", "tph", "tpd", "tpmonth"]
WINDOW = {"rpm": "minute", "tpm": "minute", "rph": "hour", "tph": "hour", "rpd": "day", "tpd": "day",
          "rpmonth": "month", "tpmonth": "month"}
RESET_ZONES = {"utc-midnight": "UTC", "pacific-midnight": "America/Los_Angeles"}


def reset_zone(reset: str) -> ZoneInfo:
    """The zone whose midnight resets daily quotas: ``utc-midnight``, ``pacific-midnight`` or an IANA zone name."""
    try:
        return ZoneInfo(RESET_ZONES.get(reset, reset))
    except Exception as exc:  # ZoneInfoNotFoundError or ValueError for odd strings
        raise ValueError(
            f"unknown quota reset {reset!r}: use 'utc-midnight', 'pacific-midnight' or an IANA zone name"
        ) from exc


class QuotaLimits(BaseModel):
    """A free tier's limits; ``None`` means not limited (or not documented)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rpm: float | None = Field(default=None, gt=0)
    rph: float | None = Field(default=None, gt=0, description="Per any 60 minutes (sliding).")
    rpd: float | None = Field(default=None, gt=0)
    rpmonth: float | None = Field(default=None, gt=0, description="Per month, counted from the reference date.")
    tpm: float | None = Field(default=None, gt=0)
    tph: float | None = Field(default=None, gt=0)
    tpd: float | None = Field(default=None, gt=0)
    tpmonth: float | None = Field(default=None, gt=0)
    reset: str = Field(default="utc-midnight", description="When daily limits reset.")


class LimitCheck(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: LimitName
    value: float
    peak_demand: float = Field(description="Highest per-minute rate (rpm/tpm) or the day's total (rpd/tpd).")
    headroom: float = Field(description="Traffic multiplier this limit still tolerates (<1 means it breaks).")
    breaks_at: datetime | None = Field(default=None, description="Start of the minute it first breaks, in the users' zone.")
    breaks_at_provider: datetime | None = Field(default=None, description="The same instant in the provider's reset zone.")


class QuotaVerdict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    holds: bool
    checks: tuple[LimitCheck, ...]
    first_break: LimitCheck | None = Field(default=None, description="The limit that breaks earliest in the day.")
    max_traffic_multiplier: float | None = Field(
        default=None, description="How much the traffic could grow before the first limit binds (None: no limits)."
    )

    def summary(self) -> str:
        if not self.checks:
            return "no documented limits"
        if self.holds:
            return f"holds (up to {self.max_traffic_multiplier:.2f}x this traffic)"
        b = self.first_break
        assert b is not None and b.breaks_at is not None
        when = "%b %d %H:%M" if b.limit.endswith("month") else "%H:%M"
        return (f"{b.limit.upper()} {b.value:g} breaks at {b.breaks_at.strftime(when)} local "
                f"({b.breaks_at_provider.strftime(when + ' %Z')} provider)")


def provider_day(workload: Workload, zone: ZoneInfo) -> tuple[datetime, int]:
    """Start (aware) and length in minutes of the provider's quota day on the workload's reference date."""
    start = datetime.combine(workload.reference_date, time(0), tzinfo=zone)
    end = datetime.combine(workload.reference_date + timedelta(days=1), time(0), tzinfo=zone)
    # Same-zone subtraction in Python compares wall clocks; go through UTC so DST days get 23 or 25 hours.
    utc = ZoneInfo("UTC")
    return start, int((end.astimezone(utc) - start.astimezone(utc)).total_seconds() // 60)


def calls_per_minute(workload: Workload, start: datetime, minutes: int, calls_per_request: float) -> list[float]:
    """Model calls arriving in each minute from ``start``, following the users' local hourly traffic shape."""
    user_zone = ZoneInfo(workload.timezone)
    fractions = workload.hourly_fractions
    per_day = workload.requests_per_day * calls_per_request
    start_utc = start.astimezone(ZoneInfo("UTC"))
    return [
        per_day * fractions[(start_utc + timedelta(minutes=i)).astimezone(user_zone).hour] / 60.0
        for i in range(minutes)
    ]


def check_quota(
    limits: QuotaLimits, workload: Workload, calls_per_request: float = 1.0, tokens_per_call: float = 0.0
) -> QuotaVerdict:
    """Whether ``limits`` hold ``workload`` through one provider day, and which limit breaks first.

    ``calls_per_request`` is model calls per user question (CoVe makes several); ``tokens_per_call`` counts input
    plus output tokens, as the free tiers meter them. A limit breaks in the first minute whose own rate (RPM/TPM) or
    running total since the last reset (RPD/TPD) exceeds it.
    """
    zone = reset_zone(limits.reset)
    user_zone = ZoneInfo(workload.timezone)
    start, minutes = provider_day(workload, zone)
    calls = calls_per_minute(workload, start, minutes, calls_per_request)
    tokens = [c * tokens_per_call for c in calls]
    start_utc = start.astimezone(ZoneInfo("UTC"))
    checks = []
    for name in WINDOW:
        value = getattr(limits, name)
        if value is None:
            continue
        demand, offset = _first_break(tokens if name.startswith("t") else calls, value, WINDOW[name],
                                      workload.days_per_month)
        at = None if offset is None else start_utc + offset
        checks.append(
            LimitCheck(
                limit=name,
                value=value,
                peak_demand=demand,
                headroom=value / demand if demand > 0 else float("inf"),
                breaks_at=None if at is None else at.astimezone(user_zone),
                breaks_at_provider=None if at is None else at.astimezone(zone),
            )
        )
    broken = [c for c in checks if c.breaks_at is not None]
    first = min(broken, key=lambda c: (c.breaks_at, c.headroom)) if broken else None
    finite = [c.headroom for c in checks if c.headroom != float("inf")]
    return QuotaVerdict(
        holds=not broken,
        checks=tuple(checks),
        first_break=first,
        max_traffic_multiplier=min(finite) if finite else None,
    )


def _first_break(per_minute: list[float], value: float, window: str, days_per_month: float
                 ) -> tuple[float, timedelta | None]:
    """(peak demand in the window, time from the day's start to the first minute that exceeds ``value``).

    minute: each minute's own rate; hour: any 60 consecutive minutes; day: running total since the reset;
    month: the same day repeated from the reference date, so the break falls on day ``value // daily``.
    """
    limit = value * (1 + 1e-9)
    if window == "minute":
        peak = max(per_minute)
        return peak, next((timedelta(minutes=i) for i, x in enumerate(per_minute) if x > limit), None)
    if window == "hour":
        running, peak, found = 0.0, 0.0, None
        for i, x in enumerate(per_minute):
            running += x - (per_minute[i - 60] if i >= 60 else 0.0)
            peak = max(peak, running)
            if found is None and running > limit:
                found = timedelta(minutes=i)
        return peak, found
    daily = sum(per_minute)
    days, budget = 0, value
    if window == "month":
        if daily * days_per_month <= limit:
            return daily * days_per_month, None
        days = int(value / daily + 1e-9) if daily else 0
        budget = value - days * daily
    running = 0.0
    for i, x in enumerate(per_minute):
        running += x
        if running > budget * (1 + 1e-9):
            return (daily * days_per_month if window == "month" else daily), timedelta(days=days, minutes=i)
    return (daily * days_per_month if window == "month" else daily), None
