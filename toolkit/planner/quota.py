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

LimitName = Literal["rpm", "rpd", "tpm", "tpd"]
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
    rpd: float | None = Field(default=None, gt=0)
    tpm: float | None = Field(default=None, gt=0)
    tpd: float | None = Field(default=None, gt=0)
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
        return f"{b.limit.upper()} {b.value:g} breaks at {b.breaks_at:%H:%M} local ({b.breaks_at_provider:%H:%M %Z} provider)"


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
    series: dict[LimitName, tuple[float | None, list[float], bool]] = {
        "rpm": (limits.rpm, calls, False),
        "tpm": (limits.tpm, [c * tokens_per_call for c in calls], False),
        "rpd": (limits.rpd, calls, True),
        "tpd": (limits.tpd, [c * tokens_per_call for c in calls], True),
    }
    checks = []
    for name, (value, per_minute, cumulative) in series.items():
        if value is None:
            continue
        running, breaks = 0.0, None
        for i, amount in enumerate(per_minute):
            running = running + amount if cumulative else amount
            if running > value * (1 + 1e-9):
                breaks = i
                break
        demand = sum(per_minute) if cumulative else max(per_minute)
        at = None if breaks is None else (start.astimezone(ZoneInfo("UTC")) + timedelta(minutes=breaks))
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
