"""Client-side quota: every documented window (RPS/RPM/RPH/RPD, TPM/TPD, neurons/day) enforced at once.

Why client-side: a free tier answers a burst with 429s and, worse, counts them; staying under the limits is cheaper
than retrying. The counting is pyrate-limiter's SQLite bucket (one file per provider model under
``paths.subdir("quota")``, file-locked), so every process of an experiment shares it and a restart still knows
today's usage. Two things pyrate-limiter does not know are added here:

* daily windows that restart at a wall-clock midnight (UTC or Pacific) instead of rolling 24 h, and
* what the server itself said (``x-ratelimit-*``, ``Retry-After``, a spent daily quota), kept in a small JSON
  view next to the buckets so other processes back off too.

The clock and sleep are injectable, so unit tests run minutes of traffic without waiting.
"""

import datetime as dt
import json
import math
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from pyrate_limiter import Decision, Rate, RateItem, SlidingWindowLog, SQLiteBucket

from toolkit import paths
from toolkit.providers import cancel
from toolkit.providers.catalog import Limits
from toolkit.providers.dialects import QuotaSignal, Window

DAY_MS = 86_400_000
WINDOW_MS = {
    "rps": 1_000, "rpm": 60_000, "rph": 3_600_000, "rpd": DAY_MS, "rpmonth": 30 * DAY_MS,
    "tpm": 60_000, "tph": 3_600_000, "tpd": DAY_MS, "tpmonth": 30 * DAY_MS, "neurons_per_day": DAY_MS,
    "pace": 6_000,
}
PACE_MIN_RPM = 20
"""From this RPM on, the client also caps each tenth of a minute at rpm/10 + 1 requests ("pace"): otherwise a
window boundary releases the whole minute's quota at once, and arrival jitter at the server turns part of that
burst into 429s. Over a minute the full RPM is still reached."""
BUCKETS = {
    "requests": ("rps", "rpm", "rph", "rpd", "rpmonth"),
    "tokens": ("tpm", "tph", "tpd", "tpmonth"),
    "neurons": ("neurons_per_day",),
}
UNIT = {"requests": 1, "tokens": 10, "neurons": 1}
"""Tokens are stored in rows of 10 (pyrate-limiter keeps one row per unit; 1M tokens/day would be 1M rows)."""

TIMEZONES = {"utc-midnight": dt.UTC, "pacific-midnight": ZoneInfo("America/Los_Angeles"), "rolling": None}


class QuotaExhausted(RuntimeError):
    """A daily (or monthly) quota is spent: waiting makes no sense, switch provider or come back after ``resets_at``."""

    def __init__(self, entry_id: str, what: str, resets_at: dt.datetime | None):
        self.entry_id, self.what, self.resets_at = entry_id, what, resets_at
        when = "at an unknown time"
        if resets_at:
            left = max(0, int((resets_at - dt.datetime.now(dt.UTC)).total_seconds()))
            when = f"at {resets_at:%Y-%m-%d %H:%M:%S} UTC (in {left // 3600}h{left % 3600 // 60:02d}m)"
        super().__init__(
            f"{entry_id}: {what} is spent; it resets {when}. TierLab stops here instead of retrying all day: "
            "use a fallback list (get_chat_model([...])), another provider, or run again after the reset."
        )


class RateLimitWaitTooLong(RuntimeError):
    """Staying under a per-minute/hour limit would need a longer wait than the caller allows (``max_wait_s``)."""


class ResetAwareWindows(SlidingWindowLog):
    """Sliding windows, except day-long windows that restart at midnight in ``tz`` (``None``: rolling)."""

    def __init__(self, tz: dt.tzinfo | None):
        self.tz = tz

    def _calendar(self, rate: Rate) -> bool:
        return self.tz is not None and rate.interval == DAY_MS

    def midnight(self, now: int) -> int:
        local = dt.datetime.fromtimestamp(now / 1000, self.tz)
        return int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)

    def next_midnight(self, now: int) -> int:
        local = dt.datetime.fromtimestamp(now / 1000, self.tz) + dt.timedelta(days=1)
        return int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)

    def admit(self, rates, counts, weight):
        # Longest window first, so a spent daily quota is reported rather than hidden behind a minute's wait.
        for rate, count in reversed(list(zip(rates, counts, strict=True))):
            if rate.limit - int(count) < weight:
                return Decision(failing_rate=rate)
        return Decision()

    def window_start(self, rate: Rate, now: int) -> int:
        return self.midnight(now) if self._calendar(rate) else now - rate.interval

    def blocking_offset(self, rate: Rate, weight: int):
        return None if self._calendar(rate) else super().blocking_offset(rate, weight)

    def retry_after(self, rate: Rate, now: int, blocking_timestamp):
        if self._calendar(rate):
            return self.next_midnight(now) - now
        return super().retry_after(rate, now, blocking_timestamp)


def _rates(limits: Limits, names: tuple[str, ...], unit: int, pace: bool = False) -> list[tuple[str, Rate]]:
    """The windows of one bucket, minus redundant ones (pyrate-limiter wants strictly tighter-then-looser rates)."""
    rates = [(n, Rate(max(1, getattr(limits, n) // unit), WINDOW_MS[n])) for n in names if getattr(limits, n)]
    if pace and "rpm" in names and (limits.rpm or 0) >= PACE_MIN_RPM:
        rates.append(("pace", Rate(limits.rpm // 10 + 1, WINDOW_MS["pace"])))
    rates.sort(key=lambda pair: pair[1].interval)
    kept: list[tuple[str, Rate]] = []
    for name, rate in rates:
        while kept and rate.limit <= kept[-1][1].limit:  # a longer window with a lower limit makes the short one moot
            kept.pop()
        if kept and rate.limit / rate.interval >= kept[-1][1].limit / kept[-1][1].interval:
            continue  # can never bind before the shorter window does
        kept.append((name, rate))
    return kept


def _safe(entry_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", entry_id)


class QuotaLimiter:
    """All windows of one provider model.

    ``persist=False`` keeps counts in memory and enforces exactly the documented windows (the emulator's server
    side); the client default also paces each minute (see ``PACE_MIN_RPM``).
    """

    def __init__(
        self,
        entry_id: str,
        limits: Limits,
        *,
        persist: bool = True,
        state_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = cancel.sleep,
        max_wait_s: float = 600.0,
        margin_s: float = 0.25,
        state_name: str | None = None,
    ):
        self.entry_id, self.limits = entry_id, limits
        self.clock, self.sleep, self.max_wait_s, self.margin_s = clock, sleep, max_wait_s, margin_s
        self.scale = limits.time_scale
        self.algorithm = ResetAwareWindows(TIMEZONES[limits.reset])
        self._lock = threading.Lock()  # threads of one process queue here, not on the file lock's polling loop
        self._view_path: Path | None = None
        db = ":memory:"
        if persist:
            folder = state_dir or paths.subdir("quota")
            name = state_name or _safe(entry_id)  # the client passes its endpoint's name (endpoint.py)
            db = str(folder / f"{name}.sqlite")
            self._view_path = folder / f"{name}.view.json"
        self.windows: dict[str, tuple[str, Rate]] = {}  # window name -> (bucket name, rate)
        self.buckets: dict[str, SQLiteBucket] = {}
        for bucket, names in BUCKETS.items():
            rates = _rates(limits, names, UNIT[bucket], pace=persist)
            if not rates:
                continue
            self.buckets[bucket] = SQLiteBucket.init_from_file(
                [rate for _, rate in rates], table=bucket, db_path=db, use_file_lock=persist, algorithm=self.algorithm
            )
            self.windows |= {name: (bucket, rate) for name, rate in rates}
        self._last_leak = 0

    # --- time ---------------------------------------------------------------------------------------------
    def now_ms(self) -> int:
        """Virtual milliseconds: wall clock stretched by ``time_scale`` (1 outside rehearsals)."""
        return int(self.clock() * 1000 * self.scale)

    def _real(self, virtual_ms: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(virtual_ms / 1000 / self.scale, dt.UTC)

    def _window_name(self, bucket: str, rate: Rate) -> str:
        return next(n for n, (b, r) in self.windows.items() if b == bucket and r is rate)

    # --- acquiring ----------------------------------------------------------------------------------------
    def _amounts(self, tokens: int, neurons: int) -> list[tuple[str, int]]:
        # Tokens are reserved before the request so a denial of the token window never spends a request slot.
        wanted = (("neurons", neurons), ("tokens", tokens), ("requests", 1))
        return [(name, amount) for name, amount in wanted if name in self.buckets and amount > 0]

    def _weight(self, bucket_name: str, amount: int) -> int:
        return min(math.ceil(amount / UNIT[bucket_name]), min(r.limit for r in self.buckets[bucket_name].rates))

    def _put(self, bucket_name: str, amount: int) -> tuple[str, int, int] | None:
        """One non-blocking put: ``None`` if admitted, else (window name, wait in virtual ms, item timestamp)."""
        bucket = self.buckets[bucket_name]
        item = RateItem(bucket_name, self.now_ms(), self._weight(bucket_name, amount))
        with self._lock:
            self._maybe_leak(item.timestamp)
            if bucket.put(item):
                return None
            rate, wait_ms = bucket.failing_rate, bucket.waiting(item)
        return self._window_name(bucket_name, rate), wait_ms, item.timestamp

    def admit(self, tokens: int = 0, neurons: int = 0) -> tuple[str, float] | None:
        """Non-blocking check-and-count (the emulator's server side): ``None`` or (failed window, seconds to wait)."""
        for bucket_name, amount in self._amounts(tokens, neurons):
            if denied := self._put(bucket_name, amount):
                return denied[0], denied[1] / 1000 / self.scale
        return None

    def acquire(self, tokens: int = 0, neurons: int = 0) -> float:
        """Block until one request (with its token/neuron estimate) fits every window; returns seconds waited.

        Raises ``QuotaExhausted`` for a spent daily/monthly window and ``RateLimitWaitTooLong`` past ``max_wait_s``.
        """
        waited = self._wait_for_server_view(0.0)
        for bucket_name, amount in self._amounts(tokens, neurons):
            while True:
                denied = self._put(bucket_name, amount)
                if denied is None:
                    break
                name, wait_ms, timestamp = denied
                if WINDOW_MS[name] >= DAY_MS:
                    raise QuotaExhausted(self.entry_id, f"the {name} quota ({self.limits_of(name)})",
                                         self._real(timestamp + wait_ms))
                waited += self._sleep(wait_ms / 1000 / self.scale + self.margin_s, waited, name)
                waited += self._wait_for_server_view(waited)
        return waited

    def release(self, tokens: int = 0, neurons: int = 0) -> None:
        """Give back what one ``acquire`` with the same arguments took: for an attempt that never reached the server
        (connection refused, DNS failure, connect timeout), which the provider never counted either.

        The newest rows of each bucket go; under concurrency they may be another call's rows of the same size, a
        few milliseconds apart, which leaves every window's count exactly right.
        """
        for bucket_name, amount in self._amounts(tokens, neurons):
            bucket = self.buckets[bucket_name]
            with self._lock, bucket.lock:
                bucket.conn.execute(f"DELETE FROM '{bucket.table}' WHERE rowid IN (SELECT rowid FROM '{bucket.table}' "
                                    "ORDER BY item_timestamp DESC, rowid DESC LIMIT ?)",
                                    (self._weight(bucket_name, amount),)).close()
                bucket.conn.commit()

    def record_extra(self, tokens: int = 0, neurons: int = 0) -> None:
        """Charge what a call used beyond its reservation (best effort: a full window just carries the debt)."""
        for bucket_name, amount in (("tokens", tokens), ("neurons", neurons)):
            bucket = self.buckets.get(bucket_name)
            units = math.floor(amount / UNIT[bucket_name])
            if bucket is not None and units > 0:
                with self._lock:
                    bucket.put(RateItem(bucket_name, self.now_ms(), min(units, bucket.rates[0].limit)))

    def limits_of(self, name: str) -> str:
        return f"{getattr(self.limits, name, None) or self.windows[name][1].limit} {name}"

    def _sleep(self, seconds: float, waited: float, why: str) -> float:
        if waited + seconds > self.max_wait_s:
            raise RateLimitWaitTooLong(
                f"{self.entry_id}: staying under {self.limits_of(why) if why in self.windows else why} needs "
                f"{seconds:.0f}s more wait, beyond max_wait_s={self.max_wait_s:.0f}; raise max_wait_s or slow down."
            )
        self.sleep(seconds)
        return seconds

    def _maybe_leak(self, now: int) -> None:
        if now - self._last_leak > 10_000 * self.scale:
            for bucket in self.buckets.values():
                bucket.leak(now)
            self._last_leak = now

    # --- what the server said -----------------------------------------------------------------------------
    def _read_view(self) -> dict:
        if self._view_path is None:
            return getattr(self, "_memory_view", {})
        try:
            return json.loads(self._view_path.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _write_view(self, view: dict) -> None:
        if self._view_path is None:
            self._memory_view = view
            return
        tmp = self._view_path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(view))
        tmp.replace(self._view_path)

    def _wait_for_server_view(self, waited: float) -> float:
        view, now = self._read_view(), self.clock()
        if view.get("exhausted_until", 0) > now:
            raise QuotaExhausted(self.entry_id, view.get("exhausted_what", "the daily quota"),
                                 dt.datetime.fromtimestamp(view["exhausted_until"], dt.UTC))
        if view.get("blocked_until", 0) > now:
            return self._sleep(view["blocked_until"] - now, waited, "the server's Retry-After")
        return 0.0

    def observe(self, signal: QuotaSignal) -> None:
        """Fold a response's quota signals into the shared view (other processes back off too)."""
        now = self.clock()
        changes: dict = {}
        if signal.retry_after_s:
            changes["blocked_until"] = now + signal.retry_after_s
        if signal.requests_daily and signal.requests_remaining == 0 and signal.requests_reset_s:
            changes |= {"exhausted_until": now + signal.requests_reset_s,
                        "exhausted_what": "the daily request quota (server headers: 0 remaining)"}
        elif signal.requests_remaining == 0 and signal.requests_reset_s:
            changes["blocked_until"] = now + signal.requests_reset_s
        if signal.tokens_remaining == 0 and signal.tokens_reset_s:
            changes["blocked_until"] = max(changes.get("blocked_until", 0), now + signal.tokens_reset_s)
        if signal.daily_exhausted:
            reset = signal.requests_reset_s if signal.requests_daily else None
            until = now + reset if reset else self.next_reset_s(now)
            changes |= {"exhausted_until": until, "exhausted_what": "the daily quota (server said: "
                        f"{signal.message[:160] or 'quota exhausted'})", "blocked_until": 0}
        if signal.requests_remaining is not None:
            changes["requests_remaining"] = signal.requests_remaining
        if signal.tokens_remaining is not None:
            changes["tokens_remaining"] = signal.tokens_remaining
        if changes:
            with self._lock:
                self._write_view(self._read_view() | changes | {"seen_at": now})

    def next_reset_s(self, now: float) -> float:
        """When the daily windows next restart (epoch seconds), per the reset rule."""
        if self.algorithm.tz is None:
            return now + DAY_MS / 1000 / self.scale
        return self.algorithm.next_midnight(int(now * 1000 * self.scale)) / 1000 / self.scale

    # --- reporting ----------------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Window]:
        """Per window: limit, remaining and seconds to reset (real seconds), from the persisted counts."""
        now = self.now_ms()
        out = {}
        for name, (bucket_name, rate) in self.windows.items():
            if name == "pace":
                continue
            bucket = self.buckets[bucket_name]
            start = self.algorithm.window_start(rate, now)
            with self._lock:
                rows = bucket.conn.execute(
                    f"SELECT COUNT(*), MIN(item_timestamp) FROM '{bucket.table}' WHERE item_timestamp >= ?", (start,)
                ).fetchone()
            used, oldest = rows[0], rows[1]
            if self.algorithm._calendar(rate):
                reset_ms = self.algorithm.next_midnight(now) - now
            else:
                reset_ms = (oldest + rate.interval - now) if oldest is not None else 0
            unit = UNIT[bucket_name]
            out[name] = Window(rate.limit * unit, max(0, (rate.limit - used) * unit), max(0.0, reset_ms / 1000 / self.scale))
        return out

    def server_view(self) -> dict:
        return self._read_view()

    def close(self) -> None:
        for bucket in self.buckets.values():
            bucket.close()
