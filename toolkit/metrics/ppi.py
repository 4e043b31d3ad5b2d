"""Prediction-powered rates: a judge's verdicts on every answer, corrected by human labels on a random sample.

Prediction-powered inference (Angelopoulos et al., Science 2023; PPI++ power tuning, arXiv:2311.01453) estimates a
mean from ``n`` human labels ``Y`` plus a predictor's outputs on the same ``n`` items (``Yhat``) and on ``N`` other
items (``Yhat_unlabelled``): the judge's mean on all items, minus the judge's measured error on the labelled ones.
The interval is valid whatever the judge's quality; a good judge only makes it narrower. ``ppi-python`` computes it.

Two small-sample choices, both measured by simulation (``tests/test_ppi.py``; judge of balanced accuracy 0.7,
30 labels, true rates 0.1-0.5, 1,000 experiments each):

- below ``POWER_TUNING_MIN_LABELS`` labels the weight ``lam`` of the judge is fixed at 1 (plain PPI). PPI++ picks
  ``lam`` from the same few labels, and that choice makes the interval undercover (0.83-0.92 at n = 30) exactly
  where the judge is weak; with 100 labels it covers (0.935-0.955) and is narrower, so it is used from there.
- the normal quantile is replaced by Student's t with ``n - 1`` degrees of freedom (passed to ``ppi_mean_ci`` as
  the equivalent ``alpha``), which adds the last point of coverage at n = 30 (0.936-0.943 with ``lam`` = 1).
"""

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from toolkit.metrics.stats import Interval, proportion_ci

MIN_LABELS = 10
"""Fewest human labels for which a prediction-powered interval is reported (below: "too few labels")."""
POWER_TUNING_MIN_LABELS = 100
"""From this many labels on, PPI++ power tuning (``lam=None``) picks the judge's weight from the data."""


def _t_alpha(n: int, confidence: float) -> float:
    """The ``alpha`` whose normal quantile equals Student's t quantile with ``n - 1`` degrees of freedom."""
    t = float(stats.t.ppf(0.5 + confidence / 2, n - 1))
    return float(2 * stats.norm.sf(t))


def ppi_mean(
    labels: Sequence[float],
    judged_labelled: Sequence[float],
    judged_unlabelled: Sequence[float],
    *,
    confidence: float = 0.95,
    bounds: tuple[float, float] = (0.0, 1.0),
) -> Interval | None:
    """The prediction-powered mean of ``labels`` with its interval, clipped to ``bounds``; None below ``MIN_LABELS``.

    ``labels[i]`` (a human's value) and ``judged_labelled[i]`` (the judge's) belong to the same item;
    ``judged_unlabelled`` are the judge's values on the items nobody labelled. When every item is labelled, the
    labels alone decide (Wilson interval for 0/1 labels).
    """
    y = np.asarray(labels, dtype=float)
    yhat = np.asarray(judged_labelled, dtype=float)
    unlabelled = np.asarray(judged_unlabelled, dtype=float)
    if y.shape != yhat.shape:
        raise ValueError(f"{len(y)} labels but {len(yhat)} judge values on the labelled items: they must pair up")
    n = len(y)
    if n < MIN_LABELS:
        return None
    low_bound, high_bound = bounds
    if not len(unlabelled):
        if np.isin(y, (0.0, 1.0)).all():
            return proportion_ci(int(y.sum()), n, confidence=confidence).model_copy(update={"method": "labels only"})
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * y.std(ddof=1) / math.sqrt(n))
        value = float(y.mean())
        return Interval(value=value, low=max(low_bound, value - half), high=min(high_bound, value + half), n=n,
                        method="labels only")
    from ppi_py import ppi_mean_ci, ppi_mean_pointestimate

    lam = None if n >= POWER_TUNING_MIN_LABELS else 1.0
    alpha = _t_alpha(n, confidence)
    low, high = ppi_mean_ci(y, yhat, unlabelled, alpha=alpha, lam=lam)
    value = float(np.ravel(ppi_mean_pointestimate(y, yhat, unlabelled, lam=lam))[0])
    return Interval(
        value=min(max(value, low_bound), high_bound),
        low=max(low_bound, float(np.ravel(low)[0])),
        high=min(high_bound, float(np.ravel(high)[0])),
        n=n,
        method="PPI++ (power-tuned)" if lam is None else "PPI (lam=1, t)",
    )
