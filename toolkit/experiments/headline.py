"""The comparison a spec leads with (``headline: [arm A, arm B]``): its paired accuracy test and the power it had.

Power is reported the way a finished test can honestly report it: not "observed power" (a function of p), but the
smallest difference the test could detect with 80% power, and its power for a fixed reference difference, both at
the test's own alpha with the discordant rate measured on its pairs (``toolkit.metrics.power``, exact McNemar).
"""

from toolkit.experiments.results import ExperimentResult
from toolkit.metrics import power as stats_power
from toolkit.metrics.stats import MIN_PAIRS, PairedTest
from toolkit.records import Record

METRIC = "accuracy"
REFERENCE_EFFECT = 0.2
"""The difference the reported power refers to: 20 points of accuracy, a RAG gain worth having."""
TARGET = 0.8


class Headline(Record):
    test: PairedTest
    alpha: float
    family: int
    discordant_rate: float | None = None
    power_at_reference: float | None = None
    detectable_at_target: float | None = None

    def sentences(self) -> list[str]:
        t = self.test
        if t.p_value is None:
            return [f"{t.arm_a} − {t.arm_b}: accuracy {t.diff_text()}: not tested, fewer than {MIN_PAIRS} paired "
                    "questions (power: none)."]
        lines = [f"{t.arm_a} − {t.arm_b}: accuracy {t.diff_text()}, {t.test} p={t.p_text()}, "
                 f"Holm-adjusted p={t.p_text(True)} (over all {self.family} tested comparisons), alpha {self.alpha:.2f}."]
        if self.discordant_rate is not None:
            b, c = t.discordant or (0, 0)
            power = ("–" if self.power_at_reference is None else f"{self.power_at_reference:.0%}")
            detectable = ("no difference" if self.detectable_at_target is None
                          else f"a difference of {self.detectable_at_target:.2f} or more")
            lines.append(f"Power: {power} to detect a difference of {REFERENCE_EFFECT:.2f}; {TARGET:.0%} power for "
                         f"{detectable} (n={t.n} pairs, {b}+{c} discordant: rate {self.discordant_rate:.2f}).")
        return lines


def headline(result: ExperimentResult) -> Headline | None:
    """The spec's headline accuracy test with its power, or None when the spec names none or it was not tested."""
    names = result.spec.headline
    if not names:
        return None
    test = next((t for t in result.comparisons if t.metric == METRIC and {t.arm_a, t.arm_b} == set(names)), None)
    if test is None:
        return None
    if test.arm_a != names[0]:  # report it the way the spec asks: A − B
        test = test.model_copy(update={"arm_a": test.arm_b, "arm_b": test.arm_a, "diff": -test.diff,
                                       "low": -test.high, "high": -test.low,
                                       "discordant": tuple(reversed(test.discordant)) if test.discordant else None})
    alpha = 1 - result.spec.confidence
    family = sum(t.p_value is not None for t in result.comparisons)
    out = Headline(test=test, alpha=alpha, family=family)
    if test.discordant is None or test.n < MIN_PAIRS:
        return out
    rate = sum(test.discordant) / test.n
    if rate == 0:
        return out.model_copy(update={"discordant_rate": 0.0, "power_at_reference": 0.0})
    power = stats_power.power_function(True, discordant=rate, alpha=alpha)
    return out.model_copy(update={
        "discordant_rate": rate,
        "power_at_reference": power(test.n, REFERENCE_EFFECT) if REFERENCE_EFFECT <= rate else None,
        "detectable_at_target": stats_power.detectable_effect(power, test.n, TARGET, largest=min(rate, 0.999)),
    })
