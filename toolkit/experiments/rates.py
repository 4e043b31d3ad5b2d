"""Hallucination rates per arm as the judge reports them and as human labels correct them (prediction-powered).

For each arm: the judge-only rate (the judge's verdicts on every answer; "judge only, uncorrected", shown beside
the judge's balanced accuracy on real answers from its card), and, once a reviewer has labelled enough of the arm's
random review sample, the prediction-powered rate with its interval (``toolkit.metrics.ppi``). Differences between
arms the same way, on the questions both arms answered (paired labels: the sample is the same questions for every
arm). Only marks on the random sample enter the prediction-powered rates (answers a reviewer picked are not a random
sample); every human hallucination mark enters the judge-vs-human agreement (Cohen's kappa).

Pure functions of the stored answers and the stored marks: the CLI, the notebook pane, ``summary.md`` and MLflow
all show these same numbers.
"""

import itertools
import math
from pathlib import Path

from pydantic import Field

from toolkit.experiments.marks import HumanMark, MarkStore
from toolkit.judges import judge_card
from toolkit.judges.card import is_real_answer_card
from toolkit.metrics.ppi import MIN_LABELS, ppi_mean
from toolkit.metrics.stats import Interval, cohen_kappa
from toolkit.records import Record

UNCORRECTED = "judge only, uncorrected"


class ArmRates(Record):
    arm: str
    judge: str = Field(description="The judge whose verdicts are corrected (the run's primary judge, by name).")
    answers: int
    judge_rate: Interval | None = Field(description="Judge only, uncorrected (its unknown verdicts left out).")
    ppi_rate: Interval | None = Field(
        default=None, description="Prediction-powered rate over all answers; None below the minimum of labels."
    )
    labels: int = Field(description="Human hallucination labels on the arm's random review sample.")
    sample: int = Field(description="Size of the arm's review sample (0: none drawn).")
    marked: int = Field(description="Answers with a human hallucination mark, in the sample or not.")
    kappa: float | None = Field(default=None, description="Cohen's kappa, judge vs human (hallucinated or not).")
    agreement: float | None = None
    judge_balanced_accuracy: float | None = Field(
        default=None, description="The judge's balanced accuracy on its card (real answers), when measured."
    )
    accuracy_scorer: Interval | None = Field(default=None, description="The automatic accuracy (uncorrected).")
    accuracy_ppi: Interval | None = Field(
        default=None, description="Prediction-powered accuracy: the scorer corrected by human accuracy marks."
    )
    accuracy_labels: int = Field(default=0, description="Human accuracy marks on the arm's random review sample.")
    accuracy_kappa: float | None = Field(default=None, description="Cohen's kappa, scorer vs human (correct or not).")

    @property
    def status(self) -> str:
        """What the rate shown is: corrected with n labels, or judge only (and why)."""
        if self.ppi_rate is not None:
            return f"prediction-powered, {self.labels} human labels"
        need = f"{self.labels} human labels, {MIN_LABELS} needed" if self.sample else "no review sample drawn"
        return f"{UNCORRECTED} ({need})"


class DifferenceRates(Record):
    arm_a: str
    arm_b: str
    judge_diff: Interval | None = Field(description="Judge only: arm A − arm B on the questions both answered.")
    ppi_diff: Interval | None = Field(description="Prediction-powered A − B from paired human labels.")
    labels: int


class CorrectedRates(Record):
    arms: tuple[ArmRates, ...]
    differences: tuple[DifferenceRates, ...]
    confidence: float

    def arm(self, name: str) -> ArmRates:
        return next(a for a in self.arms if a.arm == name)


def human_value(mark: HumanMark | None) -> float | None:
    """1.0 for "hallucinated", 0.0 for "supported" or "abstained", None when not marked."""
    if mark is None or mark.hallucination is None:
        return None
    return float(mark.hallucination == "hallucinated")


def judge_value(verdict) -> float:
    """1.0 hallucinated, 0.0 supported or abstained; 0.5 where the judge could not decide (PPI needs a value for
    every answer, and the human labels correct whatever it is)."""
    return 0.5 if verdict.unknown else float(verdict.hallucinated)


def primary_verdict(record):
    """The verdict of the run's primary judge (the one its hallucination rate is computed from)."""
    return record.verdict


def _card_balanced_accuracy(judge: str) -> float | None:
    """The judge's balanced accuracy on real answers labelled by people (its card), or None when not measured so:
    a figure from templated answers says nothing about real ones."""
    card = judge_card(judge)
    value = (card.get("figures") or {}).get("balanced_accuracy")
    if not is_real_answer_card(card) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def _interval(test) -> Interval:
    return Interval(value=test.diff, low=test.low, high=test.high, n=test.n, method=test.test)


def _corrected(arm: str, in_sample: list[str], ids: list[str], human: dict, predicted: dict, confidence: float):
    """(labelled ids, prediction-powered mean): human values on the sample, the predictor's on every answer."""
    labelled = [q for q in in_sample if (arm, q) in human]
    rest = [q for q in ids if q not in set(labelled)]
    return labelled, ppi_mean([human[(arm, q)] for q in labelled], [predicted[(arm, q)] for q in labelled],
                              [predicted[(arm, q)] for q in rest], confidence=confidence)


def _kappa(pairs: list[tuple[bool, bool]]) -> tuple[float | None, float | None]:
    """(Cohen's kappa, raw agreement) of (automatic, human) pairs; None where undefined."""
    agree = cohen_kappa([a for a, _ in pairs], [h for _, h in pairs])
    return _number(agree["kappa"]), _number(agree["agreement"])


def corrected_rates(result, marks: MarkStore | None = None) -> CorrectedRates:
    """Judge-only and prediction-powered hallucination rates of every arm of ``result`` and their differences, and
    the automatic accuracy corrected the same way by human accuracy marks (the scorer as the predictor)."""
    from toolkit.metrics import score

    marks = marks or MarkStore(Path(result.run_dir))
    sample, confidence, standing = marks.sample(), result.spec.confidence, marks.current()
    human = {key: value for key, mark in standing.items() if (value := human_value(mark)) is not None}
    human_accuracy = {key: float(m.accuracy == "correct") for key, m in standing.items() if m.accuracy is not None}
    verdicts = {(r.arm, r.question.id): primary_verdict(r) for r in result.records}
    judged = {key: judge_value(verdict) for key, verdict in verdicts.items()}
    scored = {(r.arm, r.question.id): score(r.question, r.answer, ("accuracy",))["accuracy"] for r in result.records}
    scored_value = {key: 0.5 if value is None else value for key, value in scored.items()}
    answered = {arm.arm: [r.question.id for r in result.records if r.arm == arm.arm] for arm in result.arms}
    rows = []
    for arm in result.arms:
        name, ids = arm.arm, answered[arm.arm]
        in_sample = [q for q in sample.get(name, []) if (name, q) in judged]
        labelled, ppi = _corrected(name, in_sample, ids, human, judged, confidence)
        accuracy_labelled, accuracy_ppi = _corrected(name, in_sample, ids, human_accuracy, scored_value, confidence)
        kappa, agreement = _kappa([(bool(verdicts[(name, q)].hallucinated), human[(name, q)] == 1.0) for q in ids
                                   if (name, q) in human and not verdicts[(name, q)].unknown])
        accuracy_kappa, _ = _kappa([(scored[(name, q)] >= 0.5, human_accuracy[(name, q)] == 1.0) for q in ids
                                    if (name, q) in human_accuracy and scored[(name, q)] is not None])
        judge = next((next(iter(r.verdicts)) for r in result.records if r.arm == name), "")  # the primary judge
        rows.append(ArmRates(
            arm=name, judge=judge, answers=len(ids), judge_rate=arm.metrics.get("hallucination_rate"),
            ppi_rate=ppi, labels=len(labelled), sample=len(in_sample),
            marked=sum((name, q) in human for q in ids), kappa=kappa, agreement=agreement,
            judge_balanced_accuracy=_card_balanced_accuracy(judge) if judge else None,
            accuracy_scorer=arm.metrics.get("accuracy"), accuracy_ppi=accuracy_ppi,
            accuracy_labels=len(accuracy_labelled), accuracy_kappa=accuracy_kappa,
        ))
    tests = {(t.arm_a, t.arm_b): t for t in result.comparisons if t.metric == "hallucination"}
    differences = []
    for a, b in itertools.combinations(sorted(answered), 2):
        common = [q for q in answered[a] if (b, q) in judged]
        both = set(sample.get(a, [])) & set(sample.get(b, []))
        labelled = [q for q in common if q in both and (a, q) in human and (b, q) in human]
        rest = [q for q in common if q not in set(labelled)]

        def minus(table, ids, a=a, b=b):
            return [table[(a, q)] - table[(b, q)] for q in ids]

        ppi = ppi_mean(minus(human, labelled), minus(judged, labelled), minus(judged, rest),
                       confidence=confidence, bounds=(-1.0, 1.0))
        test = tests.get((a, b))
        differences.append(DifferenceRates(arm_a=a, arm_b=b, judge_diff=_interval(test) if test else None,
                                           ppi_diff=ppi, labels=len(labelled)))
    return CorrectedRates(arms=tuple(rows), differences=tuple(differences), confidence=confidence)


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


def _cell(text: str) -> str:
    """Arm names hold ``|`` (``provider | method``): escaped, so a markdown table keeps its columns."""
    return text.replace("|", "\\|")


def _shown(interval: Interval | None) -> str:
    return "–" if interval is None else f"{interval.value:.2f} [{interval.low:.2f}, {interval.high:.2f}]"


def rates_markdown(rates: CorrectedRates) -> list[str]:
    """The judge-only and prediction-powered rates side by side, as markdown lines (``summary.md``, the CLI)."""
    pct = round(rates.confidence * 100)
    lines = [
        f"Hallucination rate, judge only vs prediction-powered ({pct}% intervals; PPI uses human labels on a random "
        "sample of each arm's answers):",
        "",
        "| arm | judge only (uncorrected) | judge's balanced accuracy (card) | prediction-powered | human labels "
        "| judge vs human κ |",
        "|---|---|---|---|---|---|",
    ]
    for arm in rates.arms:
        card = "not measured" if arm.judge_balanced_accuracy is None else f"{arm.judge_balanced_accuracy:.2f}"
        kappa = "–" if arm.kappa is None else f"{arm.kappa:.2f} (n={arm.marked})"
        ppi = _shown(arm.ppi_rate) if arm.ppi_rate else arm.status
        labels = f"{arm.labels} of {arm.sample}" if arm.sample else "0"
        lines.append(f"| {_cell(arm.arm)} | {_shown(arm.judge_rate)} | {card} | {ppi} | {labels} | {kappa} |")
    if any(arm.accuracy_ppi for arm in rates.arms):
        lines += ["", "Accuracy, automatic scorer vs prediction-powered (human accuracy marks on the same sample):", "",
                  "| arm | scorer (uncorrected) | prediction-powered | human labels | scorer vs human κ |",
                  "|---|---|---|---|---|"]
        lines += [f"| {_cell(arm.arm)} | {_shown(arm.accuracy_scorer)} | {_shown(arm.accuracy_ppi)} | "
                  f"{arm.accuracy_labels} | {'–' if arm.accuracy_kappa is None else f'{arm.accuracy_kappa:.2f}'} |"
                  for arm in rates.arms]
    corrected = [d for d in rates.differences if d.ppi_diff is not None]
    if corrected:
        lines += ["", "Differences (A − B), judge only vs prediction-powered on paired labels:"]
        lines += [f"- {d.arm_a} − {d.arm_b}: judge {_shown(d.judge_diff)}, prediction-powered {_shown(d.ppi_diff)} "
                  f"({d.labels} paired labels)" for d in corrected]
    return lines
