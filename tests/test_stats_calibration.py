"""Calibration of the reported statistics: A/A false-positive rates, power on a real difference, interval coverage.

A/A: both arms are drawn from the SAME distribution, so any p < 0.05 is a false positive; the share of them must
stay at or below 0.05 within Monte-Carlo error (three standard errors at ``SIMS`` simulations). Seeded, so a
failure reproduces. ``python tests/test_stats_calibration.py`` prints the measured rates as a table.

The p-value does not depend on the interval's resample count, so the A/A runs use few bootstrap resamples (speed),
and 499 Monte-Carlo sign flips (the (k+1)/(B+1) p-value is valid for any B).
"""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from toolkit.metrics.stats import compare, mean_ci, paired_proportion_diff_ci, proportion_ci

SIMS = 1000
ALPHA = 0.05
BOUND = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / SIMS)  # 0.0707
SIZES = (5, 10, 30, 100)


def binary(rate: float):
    return lambda rng, n: (rng.random(n) < rate).astype(float)


def token_f1_like(rng: np.random.Generator, n: int) -> np.ndarray:
    """Like per-question token F1: a quarter exactly 0, a quarter exactly 1, the rest spread over (0, 1)."""
    kind = rng.random(n)
    return np.where(kind < 0.25, 0.0, np.where(kind < 0.5, 1.0, rng.beta(2, 2, n)))


def skewed(rng: np.random.Generator, n: int) -> np.ndarray:
    """Heavy right tail, like latency or token counts."""
    return rng.lognormal(0.0, 1.0, n)


DRAWS = {
    "binary p=0.2": binary(0.2),
    "binary p=0.5": binary(0.5),
    "binary p=0.9": binary(0.9),
    "token-F1-like": token_f1_like,
    "skewed (lognormal)": skewed,
}


def rejection_rate(draw_a, draw_b, n: int, sims: int = SIMS, seed: int = 0) -> float:
    """Share of simulated experiments whose reported p-value is < ALPHA (None, too few to test, never rejects)."""
    rng = np.random.default_rng(seed)
    rejected = 0
    for i in range(sims):
        a, b = draw_a(rng, n), draw_b(rng, n)
        test = compare("m", "A", a.tolist(), "B", b.tolist(), n_resamples=100, permutations=499, seed=i)
        rejected += test.p_value is not None and test.p_value < ALPHA
    return rejected / sims


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("kind", list(DRAWS))
def test_aa_false_positive_rate_is_at_most_alpha(kind, n):
    draw = DRAWS[kind]
    rate = rejection_rate(draw, draw, n, seed=n)
    assert rate <= BOUND, f"A/A {kind}, n={n}: {rate:.3f} of p-values < {ALPHA} (allowed {BOUND:.3f})"
    if n < 10:
        assert rate == 0  # too few to test: no p-value at all


def test_a_real_difference_is_detected_at_large_n():
    binary_power = rejection_rate(binary(0.7), binary(0.5), 200, sims=100)
    assert binary_power >= 0.9  # McNemar: ~100 discordant pairs split 70/30 in expectation

    def shifted(rng, n):
        return rng.normal(0.6, 0.25, n)

    def base(rng, n):
        return rng.normal(0.5, 0.25, n)

    assert rejection_rate(shifted, base, 300, sims=100) >= 0.9  # standardized difference 0.28 at n = 300


@pytest.mark.parametrize("n", (10, 30))
def test_wilson_coverage_is_near_nominal(n):
    """Exact coverage (summed over the binomial), no simulation: Wilson stays near 95% at small n."""
    coverages = []
    for p in np.linspace(0.1, 0.9, 17):
        k = np.arange(n + 1)
        covered = [proportion_ci(int(x), n).low <= p <= proportion_ci(int(x), n).high for x in k]
        coverages.append(float(np.sum(scipy_stats.binom.pmf(k, n, p) * np.asarray(covered))))
    assert 0.94 <= np.mean(coverages) <= 0.97 and min(coverages) >= 0.90, coverages


@pytest.mark.parametrize("n", (10, 30))
@pytest.mark.parametrize("kind, mean", [("beta(2,5)", 2 / 7), ("exponential", 1.0)])
def test_bca_coverage_is_about_nominal(kind, mean, n):
    """BCa covers about 95% (a few points under on skewed data at small n, a known small-sample bias)."""
    rng = np.random.default_rng(n)
    sims, hits = 400, 0
    for i in range(sims):
        x = rng.beta(2, 5, n) if kind == "beta(2,5)" else rng.exponential(1.0, n)
        ci = mean_ci(x.tolist(), n_resamples=1000, seed=i)
        hits += ci.low <= mean <= ci.high
    assert hits / sims >= 0.87, f"{kind}, n={n}: coverage {hits / sims:.3f}"


@pytest.mark.parametrize("n", (10, 30))
def test_newcombe_paired_difference_coverage(n):
    """Correlated arms (they share easy questions): the interval of p_A - p_B covers the truth about 95%."""
    rng = np.random.default_rng(7)
    sims, hits = 1000, 0
    for _ in range(sims):
        easy = rng.random(n) < 0.5
        a = np.where(easy, rng.random(n) < 0.9, rng.random(n) < 0.4)
        b = np.where(easy, rng.random(n) < 0.8, rng.random(n) < 0.3)
        low, high = paired_proportion_diff_ci(a, b)
        hits += low <= 0.1 <= high  # true difference: 0.5*(0.9-0.8) + 0.5*(0.4-0.3)
    assert hits / sims >= 0.92, f"n={n}: coverage {hits / sims:.3f}"


if __name__ == "__main__":
    print(f"A/A share of p < {ALPHA} ({SIMS} simulations each; allowed <= {BOUND:.3f})")
    print("| arms | " + " | ".join(f"n={n}" for n in SIZES) + " |")
    print("|---" * (len(SIZES) + 1) + "|")
    for name, draw in DRAWS.items():
        print(f"| {name} | " + " | ".join(f"{rejection_rate(draw, draw, n, seed=n):.3f}" for n in SIZES) + " |")
