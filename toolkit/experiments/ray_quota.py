"""Quota as a cluster service: one ``QuotaLimiter`` per endpoint, inside a named Ray actor on the head node.

Why: the limiter's SQLite file lives under each node's TierLab home, so on a multi-node cluster every node would
believe it has the whole free tier (overrun, 429s). Here every worker asks one actor per endpoint instead, and the
actor runs the very same ``QuotaLimiter`` code as a local run (no second implementation: same RPM/RPD/TPM/TPD
windows, pacing, ``Retry-After`` and spent-daily-quota feedback from ``observe``).

State travels through the driver, never through a shared disk: at start the driver reads the endpoint's rows from
its usual quota store (``open_limiter``) and loads them into the actor; at the end it writes back the rows the
actor admitted during the run (and the server's view), so a later local run still remembers today's usage.
The actor is job-scoped and pinned to the head node (a lost worker node must not take the counts with it).
"""

import contextlib
import json
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

from toolkit.providers.catalog import Limits
from toolkit.providers.endpoint import Endpoint, open_limiter
from toolkit.providers.limits import QuotaExhausted, QuotaLimiter

NAMESPACE = "tierlab"
ACTOR_THREADS = 64
"""Callers one actor serves at once: ``acquire`` sleeps in the actor while a window is full."""


def actor_name(endpoint: Endpoint) -> str:
    return f"tierlab-quota-{endpoint.state_name()}"


def export_rows(limiter: QuotaLimiter, after: dict[str, int] | None = None) -> dict[str, list[tuple[str, int]]]:
    """Every bucket's rows (``name``, virtual ms timestamp), only those past ``after[bucket]`` (a rowid) if given."""
    rows = {}
    for name, bucket in limiter.buckets.items():
        with bucket.lock:
            rows[name] = bucket.conn.execute(
                f"SELECT name, item_timestamp FROM '{bucket.table}' WHERE rowid > ? ORDER BY rowid",
                ((after or {}).get(name, 0),),
            ).fetchall()
    return rows


def import_rows(limiter: QuotaLimiter, rows: dict[str, list[tuple[str, int]]]) -> None:
    for name, items in rows.items():
        bucket = limiter.buckets.get(name)
        if bucket is not None and items:
            with bucket.lock:
                bucket.conn.executemany(f"INSERT INTO '{bucket.table}' (name, item_timestamp) VALUES (?, ?)", items)
                bucket.conn.commit()


def last_rowids(limiter: QuotaLimiter) -> dict[str, int]:
    out = {}
    for name, bucket in limiter.buckets.items():
        with bucket.lock:
            out[name] = bucket.conn.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM '{bucket.table}'").fetchone()[0]
    return out


class QuotaService:
    """The actor's body: a persisted ``QuotaLimiter`` in a private folder, seeded with the driver's rows."""

    def __init__(self, entry_id: str, limits: Limits, rows: dict, view: dict, max_wait_s: float):
        self.folder = Path(tempfile.mkdtemp(prefix="tlquota"))
        if view:
            (self.folder / "quota.view.json").write_text(json.dumps(view))
        self.limiter = QuotaLimiter(entry_id, limits, state_dir=self.folder, state_name="quota", max_wait_s=max_wait_s)
        import_rows(self.limiter, rows)
        self.mark = last_rowids(self.limiter)

    def call(self, method: str, *args, **kwargs):
        """Run one limiter method; a spent quota comes back as data (its exception does not pickle by args)."""
        try:
            return "ok", getattr(self.limiter, method)(*args, **kwargs)
        except QuotaExhausted as error:
            return "exhausted", (error.entry_id, error.what, error.resets_at)

    def export(self) -> tuple[dict, dict]:
        """What this run added (rows past the loaded ones) and the server's latest view."""
        return export_rows(self.limiter, self.mark), self.limiter.server_view()

    def ready(self) -> bool:
        return True

    def stop(self) -> None:
        self.limiter.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class RemoteLimiter:
    """What a worker's ``ProviderClient`` holds instead of a local ``QuotaLimiter``: every call goes to the actor."""

    def __init__(self, handle, entry_id: str):
        self.handle, self.entry_id = handle, entry_id

    def _call(self, method: str, *args, **kwargs):
        import ray

        status, value = ray.get(self.handle.call.remote(method, *args, **kwargs))
        if status == "exhausted":
            raise QuotaExhausted(*value)
        return value

    def acquire(self, tokens: int = 0, neurons: int = 0) -> float:
        return self._call("acquire", tokens=tokens, neurons=neurons)

    def release(self, tokens: int = 0, neurons: int = 0) -> None:
        self._call("release", tokens=tokens, neurons=neurons)

    def record_extra(self, tokens: int = 0, neurons: int = 0) -> None:
        self._call("record_extra", tokens=tokens, neurons=neurons)

    def observe(self, signal) -> None:
        self._call("observe", signal)

    def server_view(self) -> dict:
        return self._call("server_view")

    def snapshot(self) -> dict:
        return self._call("snapshot")

    def close(self) -> None:
        """The actor outlives a client; the driver stops it."""


def head_node_strategy():
    """Pin to the head node: it lives as long as the cluster, unlike any worker node."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    head = next((n["NodeID"] for n in ray.nodes() if n["Alive"] and "node:__internal_head__" in n["Resources"]), None)
    return NodeAffinitySchedulingStrategy(head, soft=False) if head else "DEFAULT"


def _view_path(endpoint: Endpoint, root: Path | None) -> Path:
    from toolkit import paths

    return endpoint.quota_dir(root or paths.subdir("quota")) / f"{endpoint.state_name()}.view.json"


def _read_view(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def persist(endpoint: Endpoint, limits: Limits, rows: dict, view: dict, root: Path | None = None) -> None:
    """Write what the actor admitted into the driver's usual quota store (where a local run looks)."""
    limiter = open_limiter(endpoint, limits, root=root)
    try:
        import_rows(limiter, rows)
    except sqlite3.Error as error:  # never lose the run's results over bookkeeping; say it
        import warnings

        warnings.warn(f"{endpoint.entry_id}: could not persist the cluster quota rows: {error}", stacklevel=2)
    finally:
        limiter.close()
    if view:
        path = _view_path(endpoint, root)
        merged = _read_view(path) | view
        for key in ("blocked_until", "exhausted_until"):
            merged[key] = max(_read_view(path).get(key, 0), view.get(key, 0))
        path.write_text(json.dumps(merged))


@contextlib.contextmanager
def cluster_quota(
    endpoints: dict[str, tuple[Endpoint, Limits, float]], root: Path | None = None
) -> Iterator[dict[str, object]]:
    """One quota actor per distinct endpoint (``{state name: (endpoint, limits, max_wait_s)}``), loaded from the
    driver's quota store; yields ``{state name: actor handle}``; at exit the run's usage is written back."""
    import ray

    service = ray.remote(num_cpus=0, max_concurrency=ACTOR_THREADS, max_restarts=0)(QuotaService)
    handles: dict[str, object] = {}
    try:
        for key, (endpoint, limits, max_wait_s) in endpoints.items():
            local = open_limiter(endpoint, limits, root=root)
            try:
                rows = export_rows(local)
            finally:
                local.close()
            view = _read_view(_view_path(endpoint, root))
            try:
                handles[key] = service.options(
                    name=actor_name(endpoint), namespace=NAMESPACE, scheduling_strategy=head_node_strategy()
                ).remote(endpoint.entry_id, limits, rows, view, max_wait_s)
            except ValueError as error:  # the name is taken: another driver holds this endpoint's quota
                raise RuntimeError(
                    f"{endpoint.entry_id}: another TierLab run on this Ray cluster holds this endpoint's quota "
                    f"({actor_name(endpoint)}); wait for it to finish, then run again. ({error})"
                ) from None
        ray.get([h.ready.remote() for h in handles.values()])
        yield handles
    finally:
        for key, handle in handles.items():
            endpoint, limits, _ = endpoints[key]
            try:
                rows, view = ray.get(handle.export.remote(), timeout=60)
                persist(endpoint, limits, rows, view, root)
                ray.get(handle.stop.remote(), timeout=30)
            finally:
                ray.kill(handle)
