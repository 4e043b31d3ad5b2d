"""Confidence intervals and paired tests, so arm differences come with their uncertainty.

Percentile bootstrap over questions (numpy, seeded, so a replay reproduces the same intervals exactly); the
paired bootstrap and McNemar's exact test compare two arms on the questions both answered.
"""

import math
from collections.abc import Sequence

import numpy as np

from toolkit.records import Record

DEFAULT_RESAMPLES = 2000


class Interval(Record):
    """A statistic with its bootstrap confidence interval over ``n`` questions."""

    value: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


class PairedTest(Record):
    """Arm A minus arm B on the same questions: mean difference, its CI and two p-values."""

    metric: str
    arm_a: str
    arm_b: str
    n: int
    diff: float
    low: float
    high: float
    p_bootstrap: float
    p_mcnemar: float | None = None
    discordant: tuple[int, int] | None = None


def _clean(values: Sequence[float | None]) -> np.ndarray:
    return np.asarray([v for v in values if v is not None], dtype=float)


def bootstrap_ci(
    values: Sequence[float | None],
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Interval | None:
    """Mean of the non-None values with a percentile bootstrap interval; None when there is nothing to average."""
    data = _clean(values)
    if data.size == 0:
        return None
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(n_resamples, data.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    return Interval(
        value=float(data.mean()),
        low=float(np.quantile(means, alpha)),
        high=float(np.quantile(means, 1 - alpha)),
        n=int(data.size),
    )


def bootstrap_ratio_ci(
    numerators: Sequence[float],
    denominators: Sequence[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Interval | None:
    """A pooled ratio sum(num)/sum(den) (e.g. unsupported entities / listed entities) resampled over questions."""
    num, den = np.asarray(numerators, dtype=float), np.asarray(denominators, dtype=float)
    if num.size == 0 or den.sum() == 0:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num.size, size=(n_resamples, num.size))
    sums = den[idx].sum(axis=1)
    ratios = np.divide(num[idx].sum(axis=1), sums, out=np.full(n_resamples, np.nan), where=sums > 0)
    ratios = ratios[~np.isnan(ratios)]
    alpha = (1 - confidence) / 2
    return Interval(
        value=float(num.sum() / den.sum()),
        low=float(np.quantile(ratios, alpha)),
        high=float(np.quantile(ratios, 1 - alpha)),
        n=int(num.size),
    )


def paired_bootstrap(
    a: Sequence[float | None],
    b: Sequence[float | None],
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float, float, float, int] | None:
    """(mean diff a-b, low, high, two-sided p, n) over positions where both values exist.

    The p-value is twice the smaller share of resampled differences on either side of zero (a percentile
    bootstrap test); with no variation at all it is 1.0 for a zero difference and 0.0 otherwise.
    """
    pairs = np.asarray(
        [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None], dtype=float
    )
    if pairs.size == 0:
        return None
    diffs = pairs[:, 0] - pairs[:, 1]
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, diffs.size, size=(n_resamples, diffs.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    if np.all(means == means[0]):
        p = 1.0 if means[0] == 0 else 0.0
    else:
        p = float(min(1.0, 2 * min((means <= 0).mean(), (means >= 0).mean())))
    return (
        float(diffs.mean()),
        float(np.quantile(means, alpha)),
        float(np.quantile(means, 1 - alpha)),
        p,
        int(diffs.size),
    )


def mcnemar(a: Sequence[float | None], b: Sequence[float | None]) -> tuple[float, tuple[int, int]] | None:
    """McNemar's exact test on paired binary outcomes: (p-value, (a right & b wrong, a wrong & b right)).

    Under the null the discordant pairs split 50/50, so the two-sided p-value is the symmetric binomial tail
    ``2 * P(X <= min(b, c))`` with X ~ Bin(b + c, 1/2), capped at 1 (computed exactly; no scipy import).
    """
    pairs = [(bool(x), bool(y)) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    if not pairs:
        return None
    only_a = sum(x and not y for x, y in pairs)
    only_b = sum(y and not x for x, y in pairs)
    n = only_a + only_b
    if n == 0:
        return 1.0, (0, 0)
    tail = sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1)) / 2**n
    return min(1.0, 2 * tail), (only_a, only_b)


def compare(
    metric: str,
    arm_a: str,
    a: Sequence[float | None],
    arm_b: str,
    b: Sequence[float | None],
    *,
    binary: bool = False,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> PairedTest | None:
    """Paired bootstrap (and McNemar for binary metrics) of arm A vs arm B, values aligned by question."""
    boot = paired_bootstrap(a, b, confidence=confidence, n_resamples=n_resamples, seed=seed)
    if boot is None:
        return None
    diff, low, high, p, n = boot
    mc = mcnemar(a, b) if binary else None
    return PairedTest(
        metric=metric,
        arm_a=arm_a,
        arm_b=arm_b,
        n=n,
        diff=diff,
        low=low,
        high=high,
        p_bootstrap=p,
        p_mcnemar=mc[0] if mc else None,
        discordant=mc[1] if mc else None,
    )
