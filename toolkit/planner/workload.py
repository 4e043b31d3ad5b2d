"""The workload a plan is made for, read from ``workload.yaml``.

It is the only user-written planner input, so it validates strictly (unknown keys, bad time zones and bad traffic
shapes are errors that say how to fix them) and everything else is derived from it plus measured runs.
"""

from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

UNIFORM = (1.0,) * 24


class Workload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default="workload", description="Label used in reports and MLflow artifacts.")
    daily_active_users: int = Field(gt=0, description="Distinct users per day.")
    requests_per_user: float = Field(gt=0, description="Questions each user asks per day.")
    peak_concurrency: int = Field(default=1, ge=1, description="Requests in flight at the busiest moment.")
    latency_target_s: float | None = Field(
        default=None, gt=0, description="Required p95 latency per request; options whose measured p95 misses it are excluded."
    )
    sensitive_data: bool = Field(default=False, description="True means no third-party APIs: only self-hosted options qualify.")
    timezone: str = Field(default="UTC", description="IANA zone of the users; `traffic_shape` hours are local to it.")
    traffic_shape: tuple[float, ...] = Field(
        default=UNIFORM, description="24 relative weights, one per local hour 0..23 (need not sum to 1)."
    )
    reference_date: date = Field(
        default=date(2026, 1, 15), description="The day the quota clock is simulated on (matters on DST changes)."
    )
    days_per_month: float = Field(default=30.0, gt=0)
    min_accuracy: float | None = Field(default=None, ge=0, le=1, description="Options measured below this are excluded.")
    monthly_budget_usd: float | None = Field(default=None, ge=0, description="Options above this monthly cost are excluded.")
    selfhosted_tokens_per_s: dict[str, float] = Field(
        default_factory=dict,
        description="Per self-hosted catalog id: one GPU's aggregate output tokens/s under load (from a benchmark). "
        "Without it the measured single-stream speed is used, a conservative lower bound.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as 'UTC' or 'Europe/Berlin'") from exc
        return value

    @field_validator("traffic_shape")
    @classmethod
    def _shape(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if len(value) != 24:
            raise ValueError(f"traffic_shape needs 24 hourly weights (local hours 0..23), got {len(value)}")
        if any(w < 0 for w in value) or sum(value) <= 0:
            raise ValueError("traffic_shape weights must be >= 0 and not all zero")
        return tuple(float(w) for w in value)

    @property
    def requests_per_day(self) -> float:
        return self.daily_active_users * self.requests_per_user

    @property
    def hourly_fractions(self) -> tuple[float, ...]:
        """Share of the day's requests arriving in each local hour (sums to 1)."""
        total = sum(self.traffic_shape)
        return tuple(w / total for w in self.traffic_shape)

    def scaled(self, traffic: float = 1.0) -> "Workload":
        """The same workload with users and peak concurrency multiplied by ``traffic`` (for sensitivity)."""
        return self.model_copy(
            update={
                "daily_active_users": max(1, round(self.daily_active_users * traffic)),
                "peak_concurrency": max(1, round(self.peak_concurrency * traffic)),
            }
        )


def load_workload(path: str | Path) -> Workload:
    """Read and validate ``workload.yaml``; errors name the file and the offending field."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"workload file {path} not found: pass --workload pointing at a workload.yaml")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of workload fields, got {type(data).__name__}")
    try:
        return Workload(**data)
    except ValidationError as exc:
        raise ValueError(f"{path}: invalid workload:\n{exc}") from exc
