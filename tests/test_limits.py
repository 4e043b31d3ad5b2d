"""Client-side quota logic with an injected clock: hours of traffic, no real sleeping."""

import datetime as dt

import pytest

from toolkit.providers import dialects
from toolkit.providers.catalog import Limits
from toolkit.providers.limits import QuotaExhausted, QuotaLimiter, RateLimitWaitTooLong, _rates


class FakeClock:
    """Wall clock the limiter reads; ``sleep`` advances it and records the wait."""

    def __init__(self, when: dt.datetime):
        self.t = when.timestamp()
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def limiter(tmp_path, clock, **limits) -> QuotaLimiter:
    return QuotaLimiter("test/model", Limits(**limits), state_dir=tmp_path, clock=clock, sleep=clock.sleep)


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_rpm_waits_for_the_oldest_request_to_leave_the_window(tmp_path):
    clock = FakeClock(utc(2026, 11, 25, 12, 0))
    quota = limiter(tmp_path, clock, rpm=3)
    for _ in range(3):
        assert quota.acquire() == 0
    waited = quota.acquire()
    assert 60 <= waited <= 61 and clock.sleeps == [waited]
    assert quota.snapshot()["rpm"].remaining == 2


def test_daily_quota_raises_with_utc_midnight_reset_and_reopens_after_it(tmp_path):
    clock = FakeClock(utc(2026, 11, 25, 22, 0))
    quota = limiter(tmp_path, clock, rpm=30, rpd=2, reset="utc-midnight")
    quota.acquire(), quota.acquire()
    with pytest.raises(QuotaExhausted) as err:
        quota.acquire()
    assert err.value.resets_at == utc(2026, 11, 26, 0, 0)
    assert "rpd" in str(err.value) and "2026-11-26 00:00:00 UTC" in str(err.value)
    assert clock.sleeps == []  # a spent daily quota never sleeps
    clock.t = utc(2026, 11, 26, 0, 0, 1).timestamp()
    assert quota.acquire() == 0


def test_pacific_midnight_reset(tmp_path):
    clock = FakeClock(utc(2026, 11, 25, 7, 0))  # 23:00 the day before in Los Angeles (PST = UTC-8)
    quota = limiter(tmp_path, clock, rpd=1, reset="pacific-midnight")
    quota.acquire()
    with pytest.raises(QuotaExhausted) as err:
        quota.acquire()
    assert err.value.resets_at == utc(2026, 11, 25, 8, 0)
    clock.t = utc(2026, 11, 25, 8, 0, 1).timestamp()
    quota.acquire()


def test_rolling_day_reopens_24h_after_the_first_request(tmp_path):
    clock = FakeClock(utc(2026, 11, 25, 10, 0))
    quota = limiter(tmp_path, clock, rpd=1, reset="rolling")
    quota.acquire()
    clock.t = utc(2026, 11, 26, 0, 30).timestamp()  # past UTC midnight, but not 24 h later
    with pytest.raises(QuotaExhausted) as err:
        quota.acquire()
    assert abs((err.value.resets_at - utc(2026, 11, 26, 10, 0)).total_seconds()) < 1


def test_token_window_waits_and_all_windows_apply_at_once(tmp_path):
    clock = FakeClock(utc(2026, 11, 25, 12, 0))
    quota = limiter(tmp_path, clock, rpm=100, tpm=1000)
    assert quota.acquire(tokens=600) == 0
    waited = quota.acquire(tokens=600)  # requests fit, tokens do not
    assert waited >= 60
    assert quota.snapshot()["rpm"].remaining == 99  # the first request has left the minute meanwhile


def test_restart_remembers_todays_usage(tmp_path):
    clock = FakeClock(utc(2026, 11, 25, 12, 0))
    first = limiter(tmp_path, clock, rpd=3, reset="utc-midnight")
    for _ in range(3):
        first.acquire()
    first.close()
    again = limiter(tmp_path, clock, rpd=3, reset="utc-midnight")
    assert again.snapshot()["rpd"].remaining == 0
    with pytest.raises(QuotaExhausted):
        again.acquire()


def test_retry_after_from_the_server_is_shared_and_honoured(tmp_path):
    clock = FakeClock(utc(2026, 11, 25, 12, 0))
    one, other = limiter(tmp_path, clock, rpm=100), limiter(tmp_path, clock, rpm=100)
    one.observe(dialects.QuotaSignal(retry_after_s=17))
    assert other.acquire() == 17 and clock.sleeps == [17]


def test_server_reported_daily_exhaustion_stops_other_processes(tmp_path):
    clock = FakeClock(utc(2026, 11, 25, 12, 0))
    one, other = limiter(tmp_path, clock, rpm=100), limiter(tmp_path, clock, rpm=100)
    one.observe(dialects.QuotaSignal(daily_exhausted=True, requests_daily=True, requests_reset_s=3600,
                                     message="Rate limit reached on requests per day (RPD)"))
    with pytest.raises(QuotaExhausted, match="requests per day"):
        other.acquire()
    clock.t += 3601
    assert other.acquire() == 0


def test_zero_remaining_header_blocks_until_its_reset(tmp_path):
    clock = FakeClock(utc(2026, 11, 25, 12, 0))
    quota = limiter(tmp_path, clock)
    quota.observe(dialects.QuotaSignal(tokens_remaining=0, tokens_reset_s=7.5))
    assert quota.acquire() == 7.5


def test_wait_beyond_max_wait_is_an_error_not_a_hang(tmp_path):
    clock = FakeClock(utc(2026, 11, 25, 12, 0))
    quota = QuotaLimiter("test/model", Limits(rph=1), state_dir=tmp_path, clock=clock, sleep=clock.sleep, max_wait_s=60)
    quota.acquire()
    with pytest.raises(RateLimitWaitTooLong, match="max_wait_s"):
        quota.acquire()
    assert clock.sleeps == []


def test_time_scale_shrinks_windows(tmp_path):
    clock = FakeClock(utc(2026, 11, 25, 12, 0))
    quota = QuotaLimiter("test/model", Limits(rpm=2, time_scale=10), state_dir=tmp_path, clock=clock,
                         sleep=clock.sleep, margin_s=0)
    quota.acquire(), quota.acquire()
    assert 6.0 <= quota.acquire() <= 6.01


def test_redundant_windows_are_dropped():
    names = [name for name, _ in _rates(Limits(rpm=1, rpd=2000, rph=30), ("rpm", "rph", "rpd"), 1)]
    assert names == ["rpm", "rph"]  # 2000/day can never bind under 30/hour
    assert [n for n, _ in _rates(Limits(rpm=30, rpd=20), ("rpm", "rpd"), 1)] == ["rpd"]


@pytest.mark.parametrize(
    ("dialect", "window", "daily"),
    [("groq", "rpm", False), ("groq", "rpd", True), ("cerebras", "rpd", True), ("cerebras", "tpm", False),
     ("gemini", "rpd", True), ("gemini", "rpm", False), ("openrouter", "rpd", True), ("openrouter", "rpm", False),
     ("cohere", "rpmonth", True), ("cohere", "rpm", False), ("openai", "tpm", False)],
)
def test_emulator_429s_parse_back_to_the_same_meaning(dialect, window, daily):
    import httpx

    headers, body = dialects.render_429(dialect, "m", window, dialects.Window(10, 0, 42.0), 42.0)
    signal = dialects.parse(dialect, 429, httpx.Headers(headers), __import__("json").dumps(body))
    assert signal.daily_exhausted is daily
    assert signal.retry_after_s == 42


def test_groq_and_cerebras_headers_parse():
    import httpx

    windows = {"rpd": dialects.Window(14400, 14000, 179.56), "tpm": dialects.Window(6000, 0, 7.66)}
    for dialect in ("groq", "cerebras"):
        signal = dialects.parse(dialect, 200, httpx.Headers(dialects.render_headers(dialect, windows)))
        assert signal.requests_remaining == 14000 and signal.requests_daily
        assert signal.tokens_remaining == 0 and abs(signal.tokens_reset_s - 7.66) < 0.01
        assert abs(signal.requests_reset_s - 179.56) < 0.01
    assert dialects.parse_duration("2m59.56s") == pytest.approx(179.56)
    assert dialects.parse_duration("120ms") == pytest.approx(0.12)


def test_client_paces_a_busy_minute_but_the_emulator_side_does_not(tmp_path):
    clock = FakeClock(utc(2026, 11, 25, 12, 0))
    client = limiter(tmp_path, clock, rpm=30)
    waits = [client.acquire() for _ in range(30)]
    assert waits[:4] == [0, 0, 0, 0] and waits[4] > 0  # 30/10 + 1 per 6 s, not all 30 at one instant
    assert clock.t - utc(2026, 11, 25, 12, 0).timestamp() < 60  # yet the whole minute's quota fits in the minute
    server = QuotaLimiter("test/model", Limits(rpm=30), persist=False, clock=clock)
    assert all(server.admit() is None for _ in range(30)) and server.admit()[0] == "rpm"


def test_zero_daily_requests_in_headers_is_exhaustion_not_a_long_sleep(tmp_path):
    clock = FakeClock(utc(2026, 11, 25, 12, 0))
    quota = limiter(tmp_path, clock)
    quota.observe(dialects.QuotaSignal(requests_remaining=0, requests_reset_s=5 * 3600, requests_daily=True))
    with pytest.raises(QuotaExhausted) as err:
        quota.acquire()
    assert err.value.resets_at == utc(2026, 11, 25, 17, 0) and clock.sleeps == []


def test_release_gives_back_exactly_one_acquire(tmp_path):
    clock = FakeClock(utc(2026, 12, 1, 12))
    quota = limiter(tmp_path, clock, rpd=5, tpd=1000)
    quota.acquire(tokens=100)
    quota.acquire(tokens=100)
    quota.release(tokens=100)
    left = quota.snapshot()
    assert left["rpd"].remaining == 4 and left["tpd"].remaining == 900
