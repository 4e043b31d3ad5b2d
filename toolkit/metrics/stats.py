"""Confidence intervals and paired tests, so an arm difference is shown with its real uncertainty.

Intervals (each carries ``n``): Wilson score intervals for proportions (binary metrics) and BCa bootstrap intervals for
the mean of a continuous metric (percentile bootstrap when BCa is degenerate), all from ``scipy.stats``. A 4/4
proportion is ``1.00 [0.51, 1.00]``, never ``[1.00, 1.00]``.

Paired tests (arm A vs arm B on the questions both answered): exact McNemar for binary metrics (a binomial test on
the discordant pairs) and a paired permutation test for continuous ones (every sign flip of the differences up to
``EXACT_SIGN_FLIPS_MAX`` pairs, Monte-Carlo with a fixed seed beyond). Below ``MIN_PAIRS`` = 10 paired questions no
p-value is computed (``p_value`` is None, tables say "too few to test"): with a handful of pairs a test has almost
no power and one question flips its verdict (the percentile bootstrap this replaces printed p = 0.000 at n = 2). When
several comparisons are shown together, ``holm`` adjusts their p-values for multiplicity (``p_adjusted``).
"""

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

from toolkit.records import Record

MIN_PAIRS = 10
"""Fewest paired questions for which a p-value is reported."""
EXACT_SIGN_FLIPS_MAX = 20
"""Up to this many pairs the permutation test enumerates all 2**n sign flips (1M at 20: ~50 ms)."""
PERMUTATIONS = 9999
"""Monte-Carlo sign flips beyond ``EXACT_SIGN_FLIPS_MAX`` (p-values are valid for any count: (k+1)/(B+1))."""
DEFAULT_RESAMPLES = 2000
TOO_FEW = "too few to test"
STATS_NOTE = (
    f"tests: exact McNemar (binary metrics) or paired permutation (others), none below {MIN_PAIRS} paired questions; "
    "intervals: Wilson (proportions), BCa bootstrap (means), Newcombe (paired proportion differences)"
)
"""One line that tables print under their paired tests, so every surface names the same methods."""


class Interval(Record):
    """A statistic with its confidence interval over ``n`` questions and the method that produced it."""

    value: float
    low: float
    high: float
    n: int
    method: str = ""

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}] (n={self.n})"


class PairedTest(Record):
    """Arm A minus arm B on the same ``n`` questions: the difference with its CI, and the reported test."""

    metric: str
    arm_a: str
    arm_b: str
    n: int
    diff: float
    low: float
    high: float
    test: str
    p_value: float | None = None
    p_adjusted: float | None = None
    discordant: tuple[int, int] | None = None
    dropped_nan: int = 0
    """Pairs left out because a value was NaN (a metric that failed to compute), not counted in ``n``."""

    def p_text(self, adjusted: bool = False) -> str:
        """The p-value as tables show it: three decimals, or "too few to test" below ``MIN_PAIRS`` pairs."""
        p = self.p_adjusted if adjusted else self.p_value
        if self.p_value is None:
            return f"{TOO_FEW} (n < {MIN_PAIRS})" if self.n < MIN_PAIRS else "–"
        return "–" if p is None else f"{p:.3f}"

    def diff_text(self) -> str:
        dropped = f" ({self.dropped_nan} NaN pair{'s' * (self.dropped_nan > 1)} dropped)" if self.dropped_nan else ""
        return f"{self.diff:+.2f} [{self.low:+.2f}, {self.high:+.2f}] n={self.n}{dropped}"


def _is_nan(value: float | None) -> bool:
    return value is not None and math.isnan(value)


def _clean(values: Sequence[float | None]) -> np.ndarray:
    return np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)


def is_binary(values: Sequence[float | None] | np.ndarray) -> bool:
    """True when every value is 0 or 1 (then proportions and McNemar apply)."""
    data = np.asarray([v for v in values if v is not None], dtype=float)
    return bool(np.isin(data, (0.0, 1.0)).all())


def proportion_ci(successes: int, n: int, *, confidence: float = 0.95) -> Interval:
    """Wilson score interval: good coverage at small n, and never the zero-width [1, 1] of a 4/4.

    The closed form equals ``binomtest(k, n).proportion_ci(method="wilson")`` (checked in the tests) but skips the
    p-value search binomtest runs first, which made every paired comparison 3x slower.
    """
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact bounds at 0/n and n/n, not 1e-17
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(value=p, low=low, high=high, n=int(n), method="wilson")


def _bootstrap(data: tuple[np.ndarray, ...], statistic, confidence: float, n_resamples: int, seed: int,
               paired: bool = False) -> tuple[float, float, str] | None:
    """BCa bootstrap interval, percentile when BCa is degenerate; None when neither is finite."""
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # degenerate data: BCa gives NaN (checked below)
            ci = stats.bootstrap(data, statistic, n_resamples=n_resamples, confidence_level=confidence,
                                 method=method, paired=paired, vectorized=True, rng=np.random.default_rng(seed),
                                 ).confidence_interval
        if np.isfinite(ci.low) and np.isfinite(ci.high):
            return float(ci.low), float(ci.high), method
    return None


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def mean_ci(
    values: Sequence[float | None],
    *,
    binary: bool | None = None,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Interval | None:
    """Mean of the non-None values with its interval (Wilson if binary, else BCa); None when nothing to average.

    ``binary=None`` decides from the data (all values 0 or 1): a proportion gets the Wilson interval either way.
    """
    data = _clean(values)
    if data.size == 0:
        return None
    if binary or (binary is None and is_binary(data)):
        return proportion_ci(int(round(data.sum())), data.size, confidence=confidence)
    value = float(data.mean())
    ci = _bootstrap((data,), _mean, confidence, n_resamples, seed) if np.ptp(data) > 0 else None
    if ci is None:  # one value, or all equal: no spread to resample
        return Interval(value=value, low=value, high=value, n=int(data.size), method="none (no spread)")
    return Interval(value=value, low=ci[0], high=ci[1], n=int(data.size), method=ci[2])


def ratio_ci(
    numerators: Sequence[float],
    denominators: Sequence[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Interval | None:
    """A pooled ratio sum(num)/sum(den) (e.g. unsupported / listed entities), BCa-resampled over questions.

    When the bootstrap is degenerate (e.g. no unsupported entity anywhere) the Wilson interval of the pooled counts
    stands in: it treats entities as independent, which is optimistic, but it is not a zero-width interval.
    """
    num, den = np.asarray(numerators, dtype=float), np.asarray(denominators, dtype=float)
    if num.size == 0 or den.sum() == 0:
        return None
    value = float(num.sum() / den.sum())

    def ratio(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sum(x, axis=axis) / np.sum(y, axis=axis)

    ci = _bootstrap((num, den), ratio, confidence, n_resamples, seed, paired=True) if num.size > 1 else None
    if ci is None or ci[0] == ci[1]:
        wilson = proportion_ci(int(round(num.sum())), int(round(den.sum())), confidence=confidence)
        return wilson.model_copy(update={"value": value, "n": int(num.size), "method": "wilson (pooled)"})
    return Interval(value=value, low=ci[0], high=ci[1], n=int(num.size), method=ci[2])


def mcnemar(a: Sequence[float | None], b: Sequence[float | None]) -> tuple[float, tuple[int, int]] | None:
    """Exact McNemar test on paired binary outcomes: (p-value, (A right & B wrong, A wrong & B right)).

    Under the null the discordant pairs split 50/50, so the p-value is the exact two-sided binomial test of one
    count against Bin(b + c, 1/2); 1.0 when there is no discordant pair.
    """
    pairs = [(bool(x), bool(y)) for x, y in zip(a, b, strict=True)
             if x is not None and y is not None and not _is_nan(x) and not _is_nan(y)]  # NaN is not "correct"
    if not pairs:
        return None
    only_a = sum(x and not y for x, y in pairs)
    only_b = sum(y and not x for x, y in pairs)
    if only_a + only_b == 0:
        return 1.0, (0, 0)
    return float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue), (only_a, only_b)


def sign_flip_test(diffs: Sequence[float], *, permutations: int = PERMUTATIONS, seed: int = 0) -> tuple[float, str]:
    """Two-sided paired permutation test of mean(diffs) = 0: (p-value, test name).

    This is what ``scipy.stats.permutation_test((d,), mean, permutation_type="samples")`` computes (the tests check
    both paths against it), written out because scipy's generic path builds index permutations: 18 s for the exact
    test at n = 20 and 0.3 s (n = 100) to 1.8 s (n = 500) per Monte-Carlo test here, against ~50 ms and ~10 ms.
    Exact up to ``EXACT_SIGN_FLIPS_MAX`` pairs (the 2**n sums of +-|d|, built by doubling); beyond, ``permutations``
    random sign flips from a fixed seed, p = (k + 1) / (B + 1) as scipy reports it.
    """
    d = np.asarray(diffs, dtype=float)
    magnitudes, observed = np.abs(d), abs(d.sum())
    tolerance = 1e-9 * max(observed, 1.0)  # equal sums computed in another order must count as ties
    if d.size <= EXACT_SIGN_FLIPS_MAX:
        sums = np.zeros(1)
        for x in magnitudes:
            sums = np.concatenate((sums + x, sums - x))
        return float(np.mean(np.abs(sums) >= observed - tolerance)), "permutation (exact)"
    rng, extreme = np.random.default_rng(seed), 0
    for start in range(0, permutations, 1000):  # batches keep memory at 1000 x n
        keep = (rng.random((min(1000, permutations - start), d.size)) < 0.5).astype(float)  # sign +1 where kept
        sums = 2 * np.einsum("ij,j->i", keep, magnitudes) - magnitudes.sum()  # einsum: no BLAS threads to contend
        extreme += int(np.sum(np.abs(sums) >= observed - tolerance))
    return (extreme + 1) / (permutations + 1), "permutation (Monte-Carlo)"


def paired_proportion_diff_ci(a: Sequence[bool], b: Sequence[bool], *, confidence: float = 0.95) -> tuple[float, float]:
    """Newcombe's hybrid score interval for a difference of paired proportions (1998, method 10, from Wilson's).

    Unlike a bootstrap of the differences it stays wide when every pair agrees (n = 4, all right in both arms:
    [-0.49, +0.49], not [0, 0]).
    """
    x, y = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    n = x.size
    both, only_a, only_b = int((x & y).sum()), int((x & ~y).sum()), int((~x & y).sum())
    neither = n - both - only_a - only_b
    p1, p2 = (both + only_a) / n, (both + only_b) / n
    ci1, ci2 = proportion_ci(both + only_a, n, confidence=confidence), proportion_ci(both + only_b, n, confidence=confidence)
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    cross = both * neither - only_a * only_b  # Newcombe's continuity-corrected phi: 0 for 0 <= cross <= n/2
    corrected = cross - n / 2 if cross > n / 2 else (cross if cross < 0 else 0.0)
    phi = corrected / math.sqrt(margins) if margins else 0.0
    lower = math.sqrt(max(0.0, (p1 - ci1.low) ** 2 - 2 * phi * (p1 - ci1.low) * (ci2.high - p2) + (ci2.high - p2) ** 2))
    upper = math.sqrt(max(0.0, (ci1.high - p1) ** 2 - 2 * phi * (ci1.high - p1) * (p2 - ci2.low) + (p2 - ci2.low) ** 2))
    return max(-1.0, p1 - p2 - lower), min(1.0, p1 - p2 + upper)


def compare(
    metric: str,
    arm_a: str,
    a: Sequence[float | None],
    arm_b: str,
    b: Sequence[float | None],
    *,
    binary: bool | None = None,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    permutations: int = PERMUTATIONS,
    seed: int = 0,
) -> PairedTest | None:
    """Arm A vs arm B on the positions where both have a value; None when there is no such position.

    Binary metrics (``binary=None``: decided from the data) get exact McNemar and Newcombe's interval; the rest the
    paired permutation test and a BCa interval of the mean difference. ``p_value`` is None below ``MIN_PAIRS``.
    ``None`` means "does not apply" and is skipped; a NaN (a value that failed to compute) is dropped too, and the
    result says how many pairs it dropped (``dropped_nan``), so it never reads as a difference or as correct.
    """
    present = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    pairs = np.asarray([(x, y) for x, y in present if not (_is_nan(x) or _is_nan(y))], dtype=float).reshape(-1, 2)
    dropped = len(present) - len(pairs)
    if pairs.size == 0:
        return None
    xa, xb = pairs[:, 0], pairs[:, 1]
    diffs, n = xa - xb, len(pairs)
    if binary or (binary is None and is_binary(pairs.ravel())):
        p, discordant = mcnemar(xa.tolist(), xb.tolist())
        low, high = paired_proportion_diff_ci(xa == 1, xb == 1, confidence=confidence)
        test = "McNemar (exact)"
    else:
        discordant = None
        ci = _bootstrap((diffs,), _mean, confidence, n_resamples, seed) if n > 1 else None
        low, high = ci[:2] if ci else (float(diffs.mean()),) * 2
        p, test = sign_flip_test(diffs, permutations=permutations, seed=seed) if n >= MIN_PAIRS else (None, "permutation (exact)")
    return PairedTest(metric=metric, arm_a=arm_a, arm_b=arm_b, n=n, diff=float(diffs.mean()), low=low, high=high,
                      test=test, p_value=p if n >= MIN_PAIRS else None, discordant=discordant, dropped_nan=dropped)



def compare_answered(metric: str, arm_a: str, a: Mapping[str, float | None], arm_b: str,
                     b: Mapping[str, float | None], **options) -> PairedTest | None:
    """``compare`` on the questions both arms answered (``a``, ``b``: question id -> value), paired by question id.

    The runner's tests (stored answers) and the compare panel's (MLflow tables) pair arms this one way."""
    common = sorted(set(a) & set(b))
    return compare(metric, arm_a, [a[q] for q in common], arm_b, [b[q] for q in common], **options)

def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment (controls the family-wise error rate); None entries are left out and kept None.

    The i-th smallest of m p-values becomes max over j <= i of min(1, (m - j + 1) * p_(j)).
    """
    indexed = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running, m = 0.0, len(indexed)
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def adjust(tests: Sequence[PairedTest]) -> tuple[PairedTest, ...]:
    """The tests with ``p_adjusted`` set by Holm over all of them (one family: everything shown together)."""
    adjusted = holm([t.p_value for t in tests])
    return tuple(t.model_copy(update={"p_adjusted": p}) for t, p in zip(tests, adjusted, strict=True))


def cohen_kappa(a: list[bool], b: list[bool]) -> dict[str, float]:
    """Raw agreement and Cohen's kappa between two binary raters on the same items (nan when undefined)."""
    n = len(a)
    if n == 0 or n != len(b):
        return {"n": float(n), "agreement": math.nan, "kappa": math.nan}
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pa, pb = sum(a) / n, sum(b) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    kappa = (observed - expected) / (1 - expected) if expected < 1 else math.nan
    return {"n": float(n), "agreement": observed, "kappa": kappa}
