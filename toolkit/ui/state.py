"""Panel state as plain dataclasses, kept apart from the widgets.

Why: the widgets are a thin view; everything a test wants to check (the spec a form produces, the progress of
a running experiment, the rows of the live table) lives here and can be exercised without a browser or a kernel.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from toolkit.experiments.spec import ExperimentSpec

RunStatus = Literal["idle", "running", "cancelling", "cancelled", "done", "failed"]


@dataclass(frozen=True)
class ProviderStatus:
    """What the Experiment panel shows next to a provider id before a researcher picks it."""

    id: str
    key_env: str | None = None
    key_present: bool = True
    remaining_today: int | None = None
    emulated: bool = False
    kind: str = ""

    @property
    def label(self) -> str:
        parts = [self.id]
        if self.key_env:
            parts.append(f"key {'set' if self.key_present else 'missing'} ({self.key_env})")
        if self.remaining_today is not None:
            parts.append(f"{self.remaining_today:,} req left today")
        if self.emulated:
            parts.append("emulated")
        elif self.kind:
            parts.append(self.kind)
        return " · ".join(parts)


@dataclass
class ExperimentForm:
    """The choices of the Experiment panel; ``to_spec`` turns them into a validated ``ExperimentSpec``.

    ``base`` holds every spec field the form does not edit (retriever settings, budgets, concurrency …) so a spec
    loaded from YAML round-trips through the panel unchanged apart from what the user touched. Providers and
    methods are chosen by arm name from pools that keep each entry's options (emulation, budget, CoVe options).
    """

    name: str = "notebook"
    dataset: str = "factbook"
    split: str = "dev"
    sample_size: int | None = 4
    seed: int = 0
    providers: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    judge: str = "offline"
    """The judge the form shows: the spec's LLM judge if it has one (beside the primary), else its primary judge."""
    base: dict[str, Any] = field(default_factory=dict)
    provider_pool: dict[str, dict[str, Any]] = field(default_factory=dict)
    method_pool: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: ExperimentSpec, provider_pool: dict[str, dict[str, Any]] | None = None) -> ExperimentForm:
        base = spec.model_dump(mode="json", exclude_defaults=True)
        pool = dict(provider_pool or {})
        for provider in spec.providers:
            pool.setdefault(provider.name, provider.model_dump(mode="json", exclude_defaults=True) | {"id": provider.id})
        return cls(
            name=spec.name,
            dataset=spec.dataset,
            split=spec.split,
            sample_size=spec.sample_size,
            seed=spec.seed,
            providers=[p.name for p in spec.providers],
            methods=[m.arm_name for m in spec.methods],
            metrics=list(spec.metrics),
            judge=(spec.llm_judge or spec.judges[0]).name,
            base=base,
            provider_pool=pool,
            method_pool={
                m.arm_name: m.model_dump(mode="json", exclude_defaults=True) | {"name": m.name} for m in spec.methods
            },
        )

    def spec_dict(self) -> dict[str, Any]:
        data = dict(self.base)
        data.update(
            name=self.name,
            dataset=self.dataset,
            split=self.split,
            sample_size=None if self.sample_size is None else int(self.sample_size),
            seed=int(self.seed),
            providers=[self.provider_pool.get(name, {"id": name}) for name in self.providers],
            methods=[self.method_pool.get(name, {"name": name}) for name in self.methods],
            judges=self._judges(),
        )
        if self.metrics:
            data["metrics"] = list(self.metrics)
        arms = {f"{p} | {m}" for p in self.providers for m in self.methods}
        if not set(data.get("headline") or ()) <= arms:  # the form left out an arm of the spec's headline comparison
            data.pop("headline")
        return data

    def _judges(self) -> list[dict[str, Any]]:
        """The primary judge kept as the spec had it (with its options); an LLM judge picked in the form is added."""
        kept = [{"name": "offline", **j} for j in self.base.get("judges") or [{}]]  # dumps leave out defaults
        if not self.judge.startswith("llm:"):
            return [kept[0] if kept[0]["name"] == self.judge else {"name": self.judge}]
        return [kept[0], next((j for j in kept[1:] if j["name"] == self.judge), {"name": self.judge})]

    def to_spec(self) -> ExperimentSpec:
        """The validated spec; a bad choice raises ``SpecError`` naming the field and the fix."""
        from pydantic import ValidationError

        from toolkit.experiments.spec import ExperimentSpec, SpecError

        try:
            return ExperimentSpec.model_validate(self.spec_dict())
        except ValidationError as error:
            problems = [
                f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {plain(e)}" for e in error.errors(include_url=False)
            ]
            raise SpecError("invalid experiment settings:\n  " + "\n  ".join(problems)) from None


def plain(error: dict[str, Any]) -> str:
    """A validation error in the panel's words ("pick at least 1") rather than pydantic's ("List should have …")."""
    ctx, kind = error.get("ctx") or {}, error["type"]
    if kind == "too_short":
        return f"pick at least {ctx.get('min_length', 1)}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {"greater_than_equal": "≥", "greater_than": ">", "less_than_equal": "≤", "less_than": "<"}[kind]
        return f"must be {sign} {next(iter(ctx.values()), '')}, got {error.get('input')!r}"
    if kind == "extra_forbidden":
        return "not a setting of this spec (remove it)"
    if kind == "missing":
        return "required"
    return str(error["msg"]).removeprefix("Value error, ")


@dataclass
class ArmProgress:
    arm: str
    total: int
    done: int = 0
    errors: int = 0


@dataclass
class RunState:
    """Progress and live rows of one background run, updated from the runner's thread.

    Every mutation takes the lock because the runner calls back from worker threads while the kernel's
    thread reads the state to refresh widgets.
    """

    arms: dict[str, ArmProgress] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    status: RunStatus = "idle"
    error: str | None = None
    result: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def start(self, arms: dict[str, tuple[int, int]]) -> None:
        """``arms``: arm name -> (questions planned, already answered by an earlier run of the same spec)."""
        with self.lock:
            self.arms = {arm: ArmProgress(arm, total, done) for arm, (total, done) in arms.items()}
            self.rows = []
            self.status = "running"
            self.error = None
            self.result = None

    def record(self, row: dict[str, Any]) -> None:
        """One answered question: ``row["arm"]`` names the arm; an ``error`` key counts as a failed answer."""
        with self.lock:
            arm = row["arm"]
            progress = self.arms.setdefault(arm, ArmProgress(arm, 0))
            progress.done += 1
            progress.total = max(progress.total, progress.done)
            if row.get("error"):
                progress.errors += 1
            self.rows.append(row)

    def finish(self, status: RunStatus, result: Any = None, error: str | None = None) -> None:
        with self.lock:
            self.status = status
            self.result = result
            self.error = error

    def snapshot(self) -> tuple[list[ArmProgress], list[dict[str, Any]], RunStatus]:
        with self.lock:
            arms = [ArmProgress(a.arm, a.total, a.done, a.errors) for a in self.arms.values()]
            return arms, list(self.rows), self.status
