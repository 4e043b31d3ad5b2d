"""Power of the paired tests TierLab reports: the difference N paired questions can detect, and the N a difference needs.

Binary metrics are compared with exact McNemar, whose power depends on how often the two arms DISAGREE: with
discordant rate psi (share of questions exactly one arm gets right) and difference X = p_A - p_B, the D discordant
pairs are Bin(n, psi) and each favours A with probability (psi + X) / (2 psi). Power is computed exactly from the
test's own rejection region (no normal approximation): sum over m of P(D = m) * P(reject | m). The discordant rate is
an assumption: ``DEFAULT_DISCORDANT`` unless measured on a finished run (``toolkit.planner.sample_size``).

Continuous metrics are compared with a paired permutation test; its power is that of the paired t-test it is
asymptotically equivalent to (noncentral t), with the effect standardized by the SD of the per-question differences
(``DEFAULT_DIFF_SD`` unless measured). Both formulas are checked against simulations of ``stats.compare`` in the tests.

Below ``stats.MIN_PAIRS`` no p-value is reported, so power is 0 there.
"""

from collections.abc import Callable

import numpy as np
from scipy import stats

from toolkit.metrics.stats import MIN_PAIRS

DEFAULT_DISCORDANT = 0.3
"""Assumed share of questions exactly one of two arms answers correctly (two LLM arms share most easy/hard items)."""
DEFAULT_DIFF_SD = 0.3
"""Assumed SD of per-question differences of a continuous [0, 1] metric (e.g. token F1) between two arms."""
MAX_QUESTIONS = 1_000_000


def _check(alpha: float, effect: float | None = None) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (exclusive), got {alpha}")
    if effect is not None and not 0 < effect < 1:
        raise ValueError(f"the difference to detect must be between 0 and 1 (exclusive), got {effect}; "
                         "it is a difference of proportions or of a [0, 1] metric's means, e.g. 0.1")


def mcnemar_critical(m: np.ndarray, alpha: float) -> np.ndarray:
    """Largest count c with 2 * P(Bin(m, 1/2) <= c) < alpha (-1 if none): McNemar rejects iff min(b, m-b) <= c.

    The exact test's p-value is min(1, 2 * P(X <= min(b, m - b))), so ``p < alpha`` is exactly this region.
    """
    k = stats.binom.ppf(alpha / 2, m, 0.5)  # smallest k with P(X <= k) >= alpha/2
    k = np.where(2 * stats.binom.cdf(k, m, 0.5) < alpha, k, k - 1)  # guard against ppf rounding
    return np.where(m > 0, k, -1).astype(int)


def mcnemar_power(n: int, effect: float, discordant: float = DEFAULT_DISCORDANT, alpha: float = 0.05) -> float:
    """Exact power of the two-sided exact McNemar test on ``n`` paired questions."""
    _check(alpha, effect)
    if not effect <= discordant <= 1:
        raise ValueError(
            f"a difference of {effect:g} needs at least that share of discordant questions (one arm right, the other "
            f"wrong), but the discordant rate is {discordant:g}: raise --discordant, or measure it on a finished run"
        )
    if n < MIN_PAIRS:
        return 0.0
    lo, hi = (int(x) for x in stats.binom.interval(1 - 1e-12, n, discordant))
    m = np.arange(max(lo - 1, 0), hi + 2)
    weight = stats.binom.pmf(m, n, discordant)
    c = mcnemar_critical(m, alpha)
    favour_a = (discordant + effect) / (2 * discordant)
    reject = stats.binom.cdf(c, m, favour_a) + stats.binom.sf(m - c - 1, m, favour_a)
    return float(np.clip(np.sum(weight * np.where(c >= 0, reject, 0.0)), 0.0, 1.0))


def permutation_power(n: int, effect: float, sd: float = DEFAULT_DIFF_SD, alpha: float = 0.05) -> float:
    """Power of the two-sided paired permutation test, via the paired t-test's noncentral t distribution."""
    _check(alpha, effect)
    if not sd > 0:
        raise ValueError(f"the SD of per-question differences must be > 0, got {sd}")
    if n < MIN_PAIRS:
        return 0.0
    df, shift = n - 1, effect / sd * np.sqrt(n)
    critical = stats.t.ppf(1 - alpha / 2, df)
    value = stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift)
    if not np.isfinite(value):  # scipy's nct returns NaN far in the tail; the normal limit is exact enough there
        value = stats.norm.sf(critical - shift) + stats.norm.cdf(-critical - shift)
    return float(np.clip(value, 0.0, 1.0))


def power_function(binary: bool, *, discordant: float = DEFAULT_DISCORDANT, sd: float = DEFAULT_DIFF_SD,
                   alpha: float = 0.05) -> Callable[[int, float], float]:
    """``power(n, effect)`` of the test TierLab reports for a binary or a continuous metric."""
    if binary:
        return lambda n, effect: mcnemar_power(n, effect, discordant, alpha)
    return lambda n, effect: permutation_power(n, effect, sd, alpha)


def required_questions(power: Callable[[int, float], float], effect: float, target: float = 0.8) -> int | None:
    """Fewest paired questions reaching ``target`` power (bisection; None beyond ``MAX_QUESTIONS``).

    McNemar's exact power is slightly saw-toothed in n; the bisection returns a crossing point, within a question
    or two of the smallest n.
    """
    if not 0 < target < 1:
        raise ValueError(f"target power must be between 0 and 1 (exclusive), got {target}")
    low, high = MIN_PAIRS - 1, MIN_PAIRS
    while power(high, effect) < target:
        if high >= MAX_QUESTIONS:
            return None
        low, high = high, min(high * 2, MAX_QUESTIONS)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if power(middle, effect) >= target else (middle, high)
    return high


def detectable_effect(power: Callable[[int, float], float], n: int, target: float = 0.8,
                      largest: float = 0.999) -> float | None:
    """Smallest difference detected with ``target`` power on ``n`` questions (None if even ``largest`` is not)."""
    if not 0 < target < 1:
        raise ValueError(f"target power must be between 0 and 1 (exclusive), got {target}")
    if n < MIN_PAIRS or power(n, largest) < target:
        return None
    low, high = 0.0, largest
    while high - low > 1e-4:
        middle = (low + high) / 2
        low, high = (low, middle) if power(n, middle) >= target else (middle, high)
    return high
