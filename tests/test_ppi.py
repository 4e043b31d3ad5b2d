"""Prediction-powered rates (toolkit.metrics.ppi): the coverage simulation the issue asks for, and the edges."""

import numpy as np
import pytest

from toolkit.metrics.ppi import MIN_LABELS, ppi_mean
from toolkit.metrics.stats import proportion_ci


def _judge(truth: np.ndarray, balanced_accuracy: float, rng) -> np.ndarray:
    """A judge that finds a hallucination with probability ``balanced_accuracy`` and passes a supported answer with
    the same probability (sensitivity = specificity, so its balanced accuracy is exactly that)."""
    hit = rng.random(truth.shape) < balanced_accuracy
    return np.where(truth == 1, hit, ~hit).astype(float)


def coverage(rate: float, *, experiments: int = 1000, labels: int = 30, answers: int = 300,
             balanced_accuracy: float = 0.7, seed: int = 0) -> dict[str, float]:
    """Share of simulated experiments whose 95% interval holds the true rate: the PPI interval (30 human labels on a
    random sample + the judge on every answer) and the judge-only Wilson interval (the judge on every answer)."""
    rng = np.random.default_rng(seed)
    ppi_hits = judge_hits = 0
    for _ in range(experiments):
        truth = (rng.random(answers) < rate).astype(float)
        judged = _judge(truth, balanced_accuracy, rng)
        sample = rng.permutation(answers)[:labels]  # the random sample a reviewer labels
        rest = np.setdiff1d(np.arange(answers), sample)
        ppi = ppi_mean(truth[sample], judged[sample], judged[rest])
        judge_only = proportion_ci(int(judged.sum()), answers)
        ppi_hits += ppi.low <= rate <= ppi.high
        judge_hits += judge_only.low <= rate <= judge_only.high
    return {"ppi": ppi_hits / experiments, "judge_only": judge_hits / experiments}


def test_ppi_interval_covers_the_true_rate_where_the_judge_only_interval_does_not():
    """Judge of balanced accuracy 0.7, 30 human labels per arm, 1,000 simulated experiments, nominal 95%."""
    measured = coverage(0.2)
    print(f"coverage at true rate 0.2: PPI {measured['ppi']:.3f}, judge only {measured['judge_only']:.3f}")
    assert measured["ppi"] >= 0.93
    assert 0 <= measured["judge_only"] < 0.5  # a 0.7 judge reports 0.38 for a true 0.2: its interval misses


@pytest.mark.parametrize("rate", [0.1, 0.4])
def test_ppi_coverage_holds_at_other_rates(rate):
    assert coverage(rate, experiments=400, seed=1)["ppi"] >= 0.91  # 400 runs: ±0.012 sampling error around 0.94


def test_a_perfect_judge_gives_a_narrow_interval_and_a_useless_one_a_wide_but_valid_one():
    rng = np.random.default_rng(3)
    truth = (rng.random(400) < 0.3).astype(float)
    sample, rest = np.arange(40), np.arange(40, 400)
    perfect = ppi_mean(truth[sample], truth[sample], truth[rest])
    noise = rng.random(400).round()
    useless = ppi_mean(truth[sample], noise[sample], noise[rest])
    assert perfect.high - perfect.low < 0.1 and perfect.low <= truth.mean() <= perfect.high
    assert useless.high - useless.low > perfect.high - perfect.low
    assert perfect.n == useless.n == 40 and perfect.method == "PPI (lam=1, t)"


def test_power_tuning_from_100_labels_and_labels_only_when_all_are_labelled():
    rng = np.random.default_rng(4)
    truth = (rng.random(300) < 0.3).astype(float)
    judged = _judge(truth, 0.8, rng)
    tuned = ppi_mean(truth[:120], judged[:120], judged[120:])
    assert tuned.method == "PPI++ (power-tuned)" and 0 <= tuned.low <= tuned.value <= tuned.high <= 1
    everything = ppi_mean(truth[:50], judged[:50], [])
    assert everything.method == "labels only" and everything.value == truth[:50].mean()


def test_too_few_labels_and_mismatched_inputs():
    assert ppi_mean([1.0] * (MIN_LABELS - 1), [1.0] * (MIN_LABELS - 1), [0.0] * 50) is None
    with pytest.raises(ValueError, match="must pair up"):
        ppi_mean([1.0] * 12, [1.0] * 11, [0.0] * 50)


def test_differences_stay_within_their_bounds():
    rng = np.random.default_rng(5)
    a, b = (rng.random(200) < 0.5).astype(float), (rng.random(200) < 0.2).astype(float)
    diff = ppi_mean((a - b)[:30], (a - b)[:30], (a - b)[30:], bounds=(-1.0, 1.0))
    assert -1 <= diff.low <= diff.value <= diff.high <= 1
