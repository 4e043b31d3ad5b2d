"""Intervals and paired tests on hand-computed cases, including the cases the percentile bootstrap got wrong.

Calibration (A/A false-positive rates, coverage, power) is in test_stats_calibration.py.
"""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from toolkit.metrics.stats import (
    MIN_PAIRS,
    PairedTest,
    adjust,
    compare,
    holm,
    mcnemar,
    mean_ci,
    paired_proportion_diff_ci,
    proportion_ci,
    ratio_ci,
    sign_flip_test,
)


# --- regressions: what the percentile bootstrap printed -------------------------------------------------------------
@pytest.mark.parametrize("a, b", [([1, 1], [0, 0]), ([1] * 8, [0] * 8), ([1] * 6 + [0, 0], [0] * 8)])
def test_tiny_samples_are_too_few_to_test_not_p_zero(a, b):
    """The old paired bootstrap said p = 0.000 here (n = 2 and n = 8); McNemar alone says 0.5 / 0.008 / 0.031."""
    test = compare("accuracy", "A", a, "B", b)
    assert test.n == len(a) < MIN_PAIRS
    assert test.p_value is None and test.p_adjusted is None
    assert test.p_text() == "too few to test (n < 10)"
    assert test.test == "McNemar (exact)"
    assert test.low < test.diff <= test.high  # the interval is not the collapsed [+1.00, +1.00]


def test_proportion_of_four_out_of_four_is_not_a_zero_width_interval():
    """The old bootstrap interval of [1, 1, 1, 1] was [1.00, 1.00]."""
    ci = mean_ci([1, 1, 1, 1])
    assert (ci.value, ci.n, ci.method) == (1.0, 4, "wilson")
    assert ci.low == pytest.approx(0.5101, abs=1e-4) and ci.high == 1.0
    assert str(ci) == "1.000 [0.510, 1.000] (n=4)"
    zero = mean_ci([0.0] * 5)
    assert zero.low == 0.0 and zero.high == pytest.approx(0.4345, abs=1e-4)


@pytest.mark.parametrize("k, n", [(0, 1), (4, 4), (0, 5), (3, 10), (29, 30), (50, 100), (1, 1000)])
def test_wilson_closed_form_equals_scipy(k, n):
    expected = scipy_stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    ci = proportion_ci(k, n)
    assert ci.low == pytest.approx(expected.low, abs=1e-12) and ci.high == pytest.approx(expected.high, abs=1e-12)
    ninety = proportion_ci(k, n, confidence=0.9)
    assert ninety.low == pytest.approx(
        scipy_stats.binomtest(k, n).proportion_ci(confidence_level=0.9, method="wilson").low, abs=1e-12)


# --- intervals -----------------------------------------------------------------------------------------------------
def test_continuous_mean_gets_a_seeded_bca_interval_and_degenerate_data_says_so():
    rng = np.random.default_rng(5)
    values = list(rng.beta(2, 5, 25)) + [None]
    ci = mean_ci(values, seed=3)
    assert ci.method == "BCa" and ci.n == 25 and ci.low < ci.value < ci.high
    assert mean_ci(values, seed=3) == ci  # a replay reproduces it exactly
    assert mean_ci([None, None]) is None
    flat = mean_ci([0.3, 0.3, 0.3])  # nothing to resample: shown as a point, and the method says why
    assert (flat.low, flat.high, flat.method) == (0.3, 0.3, "none (no spread)")
    assert mean_ci([0.4]).n == 1
    # binary-valued data is a proportion whatever the metric: Wilson, not a bootstrap
    assert mean_ci([1.0, 0.0, 1.0, 1.0]).method == "wilson"


def test_ratio_interval_falls_back_to_wilson_on_pooled_counts_when_degenerate():
    pooled = ratio_ci([1, 0, 2, 0, 1, 3], [4, 2, 2, 3, 5, 4])  # 7 unsupported of 20 listed
    assert pooled.value == pytest.approx(7 / 20) and pooled.low < 7 / 20 < pooled.high and pooled.n == 6
    none_wrong = ratio_ci([0, 0, 0], [3, 2, 4])
    assert none_wrong.value == 0 and none_wrong.low == 0 and none_wrong.high > 0.2
    assert none_wrong.method == "wilson (pooled)" and none_wrong.n == 3
    assert ratio_ci([], []) is None and ratio_ci([0], [0]) is None


def test_paired_difference_interval_stays_wide_when_every_pair_agrees():
    low, high = paired_proportion_diff_ci([True] * 4, [True] * 4)
    assert low == pytest.approx(-0.49, abs=0.01) and high == pytest.approx(0.49, abs=0.01)
    low, high = paired_proportion_diff_ci([True] * 9 + [False], [False] * 9 + [True])
    assert -1 <= low < 0.8 < high <= 1


# --- tests ---------------------------------------------------------------------------------------------------------
def test_mcnemar_is_the_exact_binomial_test_on_discordant_pairs():
    a = [1, 1, 1, 1, 1, 1, 0]  # 5 questions only A gets right, 0 only B
    b = [0, 0, 0, 0, 0, 1, 0]
    p, discordant = mcnemar(a, b)
    assert discordant == (5, 0) and p == pytest.approx(2 * 0.5**5)
    assert mcnemar([1, 0], [1, 0]) == (1.0, (0, 0))
    for only_a, only_b in [(10, 2), (3, 4), (20, 9)]:
        p, _ = mcnemar([1] * only_a + [0] * only_b, [0] * only_a + [1] * only_b)
        assert p == pytest.approx(min(1.0, 2 * scipy_stats.binom.cdf(min(only_a, only_b), only_a + only_b, 0.5)))


def test_binary_comparison_from_ten_pairs_reports_mcnemar():
    a = [1] * 9 + [0] + [1, 0]  # 12 pairs: 9 only-A, 0 only-B, one both right, one both wrong
    b = [0] * 9 + [0] + [1, 0]
    test = compare("accuracy", "A", a, "B", b)
    assert test.n == 12 and test.discordant == (9, 0) and test.test == "McNemar (exact)"
    assert test.p_value == pytest.approx(2 * 0.5**9) and test.p_text() == "0.004"
    assert test.diff == pytest.approx(0.75) and test.low < 0.75 < test.high


def test_sign_flip_test_is_exact_up_to_twenty_pairs_and_monte_carlo_beyond():
    ten = [0.1 * (i + 1) for i in range(10)]  # all positive, all distinct: only the identity and its mirror tie
    p, name = sign_flip_test(ten)
    assert name == "permutation (exact)" and p == pytest.approx(2 / 2**10)
    rng = np.random.default_rng(2)
    d = np.round(rng.normal(0.2, 1, 8), 2)
    d[0] = 0.0  # a zero difference flips to itself
    exact = scipy_stats.permutation_test((d,), lambda x, axis=-1: np.mean(x, axis=axis), vectorized=True,
                                         permutation_type="samples", n_resamples=np.inf).pvalue
    assert sign_flip_test(d)[0] == pytest.approx(exact)
    many = rng.normal(0.0, 1, 40)
    p, name = sign_flip_test(many, seed=1)
    assert name == "permutation (Monte-Carlo)" and p == sign_flip_test(many, seed=1)[0] and 0 < p <= 1
    assert sign_flip_test([0.0] * 12)[0] == 1.0 and sign_flip_test([0.0] * 30)[0] == 1.0
    for shift in (0.0, 0.3, 0.5):  # Monte-Carlo: scipy's generic permutation test agrees within MC error
        d = rng.normal(shift, 1, 50)
        reference = scipy_stats.permutation_test((d,), lambda x, axis=-1: np.mean(x, axis=axis), vectorized=True,
                                                 permutation_type="samples", n_resamples=9999, rng=3).pvalue
        ours = sign_flip_test(d, seed=3)[0]
        assert abs(ours - reference) <= 4 * np.sqrt(reference * (1 - reference) / 9999) + 1e-3, (shift, ours, reference)


def test_continuous_comparison_aligns_on_common_questions():
    rng = np.random.default_rng(4)
    a = list(rng.beta(5, 2, 14)) + [None]
    b = list(rng.beta(2, 5, 14)) + [0.5]
    test = compare("token_f1", "A", a, "B", b)
    assert test.n == 14 and test.test == "permutation (exact)" and test.discordant is None
    assert test.p_value < 0.01 and test.low < test.diff < test.high
    assert compare("token_f1", "A", [None], "B", [0.5]) is None


# --- Holm ----------------------------------------------------------------------------------------------------------
def test_holm_by_hand():
    # m = 3 tested: 0.01*3 = 0.03; 0.03*2 = 0.06; 0.04*1 = 0.04 -> kept monotone at 0.06
    assert holm([0.01, 0.04, 0.03, None]) == [pytest.approx(0.03), pytest.approx(0.06), pytest.approx(0.06), None]
    assert holm([0.5, 0.9]) == [1.0, 1.0] and holm([]) == [] and holm([None]) == [None]


def test_adjust_sets_p_adjusted_over_every_comparison_shown():
    def test(p: float | None, n: int = 20) -> PairedTest:
        return PairedTest(metric="m", arm_a="a", arm_b="b", n=n, diff=0, low=0, high=0, test="t", p_value=p)

    shown = adjust([test(0.01), test(0.02), test(None, n=4), test(0.04)])
    assert [t.p_adjusted for t in shown] == [pytest.approx(0.03), pytest.approx(0.04), None, pytest.approx(0.04)]
    assert shown[1].p_text(adjusted=True) == "0.040" and shown[2].p_text(adjusted=True).startswith("too few")
    assert not math.isnan(shown[0].p_value)


def test_planner_shows_accuracy_with_its_interval_and_n():
    from toolkit.planner.plan import Measured, Offer, make_plan
    from toolkit.planner.quota import QuotaLimits
    from toolkit.planner.report import plan_markdown
    from toolkit.planner.workload import Workload

    measured = [Measured(provider="groq-8b", accuracy=1.0, input_tokens_per_request=100, output_tokens_per_request=20,
                         n_questions=4)]
    plan = make_plan(Workload(daily_active_users=10, requests_per_user=1),
                     [Offer(provider="groq-8b", free=QuotaLimits(rpd=1000))], measured)
    assert "| groq-8b (free) | 1.00 [0.51, 1.00] n=4 |" in plan_markdown(plan)


def test_nan_values_are_dropped_explicitly_and_counted():
    """A NaN used to pass through: p = 0.0 with diff NaN (continuous), and a binary NaN counted as correct."""
    a = [0.2, 0.5, 0.9, 0.4, 0.7, 0.3, 0.8, 0.6, 0.1, 0.5, math.nan]
    b = [0.1, 0.4, 0.8, 0.5, 0.6, 0.2, 0.9, 0.4, 0.2, 0.3, 0.5]
    test = compare("token_f1", "A", a, "B", b)
    assert test.n == 10 and test.dropped_nan == 1 and math.isfinite(test.diff) and test.p_value > 0.05
    assert test == compare("token_f1", "A", a[:-1], "B", b[:-1]).model_copy(update={"dropped_nan": 1})
    assert "1 NaN pair dropped" in test.diff_text()

    binary = compare("accuracy", "A", [1.0] * 10 + [math.nan], "B", [1.0] * 10 + [0.0])
    assert binary.n == 10 and binary.dropped_nan == 1 and binary.discordant == (0, 0)  # the NaN is not "correct"
    assert compare("accuracy", "A", [math.nan], "B", [1.0]) is None
    assert compare("accuracy", "A", [1.0, 0.0], "B", [1.0, None]).dropped_nan == 0  # None = not applicable
