"""Self-hosted reservation cost: what keeping the endpoint up for a run costs, idle time and cold start included.

Busy-time pricing (``Usage.selfhosted_cost_usd``: the server's ``x-tierlab-cost-usd`` header, else a call's latency
x $/accelerator-hour) prices only the seconds a request was being served. A team renting the machine pays for every
hour it is up. So, per self-hosted provider, each run invocation that called it records a *reservation window*:

- it starts when the invocation starts, or earlier at the endpoint's own start (``started_at`` in the
  ``tierlab serve`` state dir, found by base URL) when that start was not already charged to an earlier
  invocation, so the first run on a fresh endpoint pays its cold start and the idle time before it;
- it ends when the invocation's answers are in.

Reservation hours = the sum of the windows; reservation $ = hours x the catalog's ``usd_per_hour`` (per GPU, or per
CPU node for a CPU profile: ``price.accelerator``). Windows are stored in ``reservations.jsonl`` of the run folder,
so a resumed run adds its own window and a replay adds none.
"""

import json
import time
from pathlib import Path

from toolkit.jsonl import append_line, read_models
from toolkit.records import Record

FILE = "reservations.jsonl"


class Reservation(Record):
    """One invocation's use of one self-hosted endpoint (epoch seconds)."""

    provider: str
    start: float
    end: float
    endpoint_started_at: float | None = None
    usd_per_hour: float = 0.0
    accelerator: str = "gpu"

    @property
    def hours(self) -> float:
        return max(self.end - self.start, 0.0) / 3600


def endpoint_started_at(base_url: str | None) -> float | None:
    """When the ``tierlab serve`` endpoint at ``base_url`` was started (its state file), if TierLab started it."""
    from toolkit import paths

    if not base_url:
        return None
    wanted = base_url.rstrip("/")
    for state in sorted(paths.subdir("serve").glob("*/server.json")):
        try:
            data = json.loads(state.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if str(data.get("base_url", "")).rstrip("/") == wanted and data.get("started_at"):
            return float(data["started_at"])
    return None


def load(directory: Path) -> list[Reservation]:
    return read_models(directory / FILE, Reservation, what="reservation")


def record(directory: Path, provider, base_url: str | None, invocation_start: float) -> Reservation | None:
    """Append this invocation's window for ``provider`` if it is self-hosted; returns it."""
    from toolkit.providers import load_catalog

    entry = load_catalog().entry(provider.id)
    if entry.kind != "self-hosted" or provider.emulate:
        return None
    started = endpoint_started_at(base_url or entry.resolved_base_url())
    charged = {r.endpoint_started_at for r in load(directory) if r.provider == provider.name}
    start = (
        min(invocation_start, started) if started is not None and started not in charged else invocation_start
    )
    window = Reservation(
        provider=provider.name,
        start=start,
        end=time.time(),
        endpoint_started_at=started,
        usd_per_hour=entry.price.usd_per_hour or 0.0,
        accelerator=entry.price.accelerator,
    )
    append_line(directory / FILE, window.model_dump_json())
    return window


def totals(directory: Path) -> dict[str, dict[str, float | str]]:
    """Per provider: reserved accelerator-hours, their cost, and the accelerator kind."""
    out: dict[str, dict[str, float | str]] = {}
    for window in load(directory):
        row = out.setdefault(window.provider, {"hours": 0.0, "usd": 0.0, "accelerator": window.accelerator})
        row["hours"] += window.hours
        row["usd"] += window.hours * window.usd_per_hour
    return out
