"""Strategy arms against the plain baseline on the same questions, run by the one experiments runner.

A strategies file wraps an ordinary experiment spec (one provider, one method) and names the arms:

    experiment: {name: strategies, dataset: factbook, sample_size: 6, providers: [local/...], methods: [closed_book]}
    arms:
      batch4: {batching: {k: 4}}
      cascade: {cascade: {strong: groq/llama-3.3-70b-versatile, signals: [abstention]}}

``StrategyExperiment.to_spec()`` turns it into one ``ExperimentSpec`` whose methods are the arms (the method with
its ``strategies``, labelled ``<method> | <arm>``), and ``run_experiment`` answers them like any arms: budgets,
pre-flight, the store's lock, resume, Cancel, Ray and the judge stage come from the runner. What is added here is
the comparison with the baseline (one Holm family), the strategy counters, and logging them to the arms' MLflow runs.
The baseline arm is always run; it is what every strategy is measured against.
"""

import threading
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from toolkit.experiments.spec import ExperimentSpec, MethodSpec, ProviderSpec, arm_name, parse_spec
from toolkit.records import Answer, Question
from toolkit.strategies.spec import Strategies

BASELINE = "baseline"


class StrategyExperiment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    experiment: ExperimentSpec = Field(description="The base experiment: exactly one provider and one method.")
    arms: dict[str, Strategies] = Field(min_length=1, description="Arm name -> strategies; 'baseline' is implicit.")
    strong: ProviderSpec | None = Field(default=None, description="How to reach the cascade's strong provider "
                                        "(base_url, params); default: its catalog entry with the base params.")

    @field_validator("experiment", mode="before")
    @classmethod
    def _parse(cls, value):
        return parse_spec(yaml.safe_dump(value), source="experiment") if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _shape(self) -> "StrategyExperiment":
        spec = self.experiment
        if len(spec.providers) != 1 or len(spec.methods) != 1:
            raise ValueError("a strategies experiment compares arms of ONE provider and ONE method; list one of each "
                             "under experiment.providers / experiment.methods (run several files to compare more)")
        if BASELINE in self.arms and self.arms[BASELINE].active:
            raise ValueError("the arm name 'baseline' is reserved for the plain arm; rename your arm")
        strongs = {s.cascade.strong for s in self.arms.values() if s.cascade}
        if self.strong and strongs - {self.strong.id}:
            raise ValueError(f"strong provider {self.strong.id!r} differs from cascade.strong {sorted(strongs)}")
        self._methods()  # a strategy the method cannot take (batching a retrieving method) fails at load
        return self

    def all_arms(self) -> dict[str, Strategies]:
        return {BASELINE: Strategies(), **{k: v for k, v in self.arms.items() if k != BASELINE}}

    def _methods(self) -> tuple[MethodSpec, ...]:
        base = self.experiment.methods[0]
        methods = []
        for name, strategies in self.all_arms().items():
            if strategies.cascade and self.strong is not None:  # the strong provider's endpoint travels with the arm
                strategies = strategies.model_copy(update={"cascade": strategies.cascade.model_copy(
                    update={"base_url": self.strong.base_url, "params": self.strong.params})})
            methods.append(MethodSpec.model_validate({
                **base.model_dump(exclude={"label", "strategies"}, exclude_none=True),
                "label": f"{base.arm_name} | {name}",
                "strategies": strategies.model_dump(exclude_none=True) if strategies.active else None,
            }))
        return tuple(methods)

    def to_spec(self) -> ExperimentSpec:
        """The experiment the runner runs: one method entry per arm, the baseline first."""
        return self.experiment.model_copy(update={"methods": self._methods()})

    def run_key(self) -> str:
        return self.to_spec().run_key()

    def arm_label(self, name: str) -> str:
        return f"{arm_name(self.experiment.providers[0], self.experiment.methods[0])} | {name}"


def load_strategy_experiment(path: str | Path) -> StrategyExperiment:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such strategies file (see experiments/strategies.yaml for an example)")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with 'experiment' and 'arms'")
    try:
        return StrategyExperiment.model_validate(data)
    except ValueError as error:
        raise ValueError(f"{path}: invalid strategies experiment:\n{error}") from None


class StrategyResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    experiment: StrategyExperiment
    result: object = Field(description="The runner's ExperimentResult (arms with CIs; paired tests vs baseline).")
    counters: dict[str, dict[str, float]] = Field(description="Arm name -> strategy counters and savings.")
    review_queues: dict[str, str] = Field(default_factory=dict, description="Arm name -> review queue name.")
    arm_runs: dict[str, str] = Field(default_factory=dict, description="Arm name -> MLflow child run id.")

    def table(self):
        """One row per arm: accuracy and hallucination with CIs, calls, tokens, what it used against the baseline
        ("17% fewer", "4.7% more"), the strategy counters, paired diff vs baseline."""
        import pandas as pd

        from toolkit.strategies.report import change_text

        rows = []
        base = self.experiment.arm_label(BASELINE)
        tests = {(t.arm_a, t.arm_b, t.metric): t for t in self.result.comparisons}
        for name in self.experiment.all_arms():
            label = self.experiment.arm_label(name)
            summary = next(a for a in self.result.arms if a.arm == label)
            row = {"arm": name}
            for metric in ("accuracy", "hallucination_rate"):
                interval = summary.metrics.get(metric)
                row[metric] = None if interval is None else str(interval)
            counts = self.counters[name]
            row.update({k: counts[k] for k in ("calls", "tokens_per_question")})
            row |= {"calls vs baseline": change_text(counts["calls_saved"]),
                    "tokens vs baseline": change_text(counts["tokens_saved"])}
            row.update({k: counts[k] for k in ("cache_hit_rate", "semantic_hits_wrong", "escalated_share",
                                               "batch_retries")})
            row["shadow_cost_per_correct"] = summary.cost.get("shadow_cost_per_correct_usd")
            for metric in ("accuracy", "hallucination"):
                t = tests.get((label, base, metric)) or tests.get((base, label, metric))
                if t is not None and name != BASELINE:
                    sign = 1 if t.arm_a == label else -1
                    lo, hi = sorted((sign * t.low, sign * t.high))
                    row[f"{metric}_diff_vs_baseline"] = f"{sign * t.diff:+.3f} [{lo:+.3f}, {hi:+.3f}] n={t.n}"
                    row[f"{metric}_p_holm"] = t.p_text(adjusted=True)
            rows.append(row)
        return pd.DataFrame(rows)


def _accuracy(question: Question, answer: Answer) -> float | None:
    from toolkit.metrics import get_metric

    return get_metric("accuracy")(question, answer)


def _by_arm(exp: StrategyExperiment, result) -> dict[str, list]:
    return {exp.arm_label(name): [r for r in result.records if r.arm == exp.arm_label(name)]
            for name in exp.all_arms()}


def _vs_baseline(exp: StrategyExperiment, result):
    """The result with each arm's paired tests against the baseline only, Holm-adjusted as one family (the
    runner's every-pair family would spend power on strategy-vs-strategy tests nobody reads here)."""
    from toolkit.experiments.results import paired_tests
    from toolkit.metrics.stats import adjust

    by_arm, base = _by_arm(exp, result), exp.arm_label(BASELINE)
    tests = adjust([t for label, rows in by_arm.items() if label != base
                    for t in paired_tests(result.spec, {base: by_arm[base], label: rows})])
    return result.model_copy(update={"comparisons": tuple(tests)})


def _review_queue(name: str, review_root: Path | None):
    from toolkit.strategies.review import ReviewQueue

    return ReviewQueue(name, root=review_root) if review_root else ReviewQueue(name)


def run_strategies(
    experiment: StrategyExperiment | str | Path,
    *,
    components=None,
    track: bool = True,
    tracking_uri: str | None = None,
    runs_root: Path | None = None,
    review_root: Path | None = None,
    ray_address: str | None = None,
    cancel: threading.Event | None = None,
    progress: bool = False,
) -> StrategyResult:
    """Answer the sample with every arm through ``run_experiment`` (resuming from the store), compare each with the
    baseline, count what the strategies did and log it to the arms' MLflow runs."""
    import copy

    from toolkit.experiments.components import Components, review_queue_name
    from toolkit.experiments.runner import run_experiment
    from toolkit.strategies.report import savings, strategy_metrics
    from toolkit.strategies.review import review_summary

    exp = experiment if isinstance(experiment, StrategyExperiment) else load_strategy_experiment(experiment)
    components = copy.copy(components or Components())
    if review_root is not None:
        components.review_root = review_root
    spec = exp.to_spec()
    log = None
    if track:
        from toolkit import tracking

        logger = tracking.mlflow_logger(tracking_uri)

        def log(result, directory):
            return logger(_vs_baseline(exp, result), directory)

        log.check = logger.check
    result = _vs_baseline(exp, run_experiment(spec, components=components, runs_root=runs_root, log=log,
                                              ray_address=ray_address, cancel=cancel, progress=progress))

    by_arm = _by_arm(exp, result)
    provider = spec.providers[0]
    queues = {name: review_queue_name(result.run_key, provider, method)
              for name, method in zip(exp.all_arms(), spec.methods, strict=True)
              if method.strategies and method.strategies.review}
    counters: dict[str, dict[str, float]] = {}
    base_counts = None
    for name in exp.all_arms():
        rows = by_arm[exp.arm_label(name)]
        counts = strategy_metrics([r.answer for r in rows], [_accuracy(r.question, r.answer) for r in rows])
        base_counts = base_counts or counts
        counts |= savings(counts, base_counts)
        if name in queues:
            counts |= review_summary(_review_queue(queues[name], review_root),
                                     {r.question.id: _accuracy(r.question, r.answer) for r in rows},
                                     {r.question.id: r.verdict for r in rows})
        counters[name] = counts

    arm_runs: dict[str, str] = {}
    if track:
        runs = tracking.load_runs(spec.name, tracking_uri=tracking_uri, parent_run_id=result.mlflow_run_id)
        by_label = dict(zip(runs["tags.tierlab.arm"], runs["run_id"], strict=True))
        for name, strategies in exp.all_arms().items():
            run_id = by_label[exp.arm_label(name)]
            arm_runs[name] = run_id
            tracking.log_to_run(run_id, params=strategies.params(), tracking_uri=tracking_uri,
                                metrics={f"strategy.{k}": v for k, v in counters[name].items()})
    return StrategyResult(experiment=exp, result=result, counters=counters, review_queues=queues, arm_runs=arm_runs)


def sync_review(result: StrategyResult, *, review_root: Path | None = None, tracking_uri: str | None = None) -> dict:
    """Push human marks into the arms' MLflow runs as ``accuracy_reviewed`` (next to the automatic accuracy)."""
    from toolkit.strategies.review import review_summary

    out = {}
    for name, queue_name in result.review_queues.items():
        label = result.experiment.arm_label(name)
        rows = [r for r in result.result.records if r.arm == label]
        summary = review_summary(_review_queue(queue_name, review_root),
                                 {r.question.id: _accuracy(r.question, r.answer) for r in rows},
                                 {r.question.id: r.verdict for r in rows})
        out[name] = summary
        if name in result.arm_runs:
            from toolkit import tracking

            tracking.log_to_run(result.arm_runs[name], metrics=summary, tracking_uri=tracking_uri)
    return out


def with_overrides(exp: StrategyExperiment, *, base_url: str | None = None,
                   sample_size: int | None = None) -> StrategyExperiment:
    """The same experiment pointed at another server (provider and strong) or with another sample size.

    Notebooks and tests use it to aim the packaged YAML at a test server without editing the file.
    """
    spec = exp.experiment
    update: dict = {}
    if base_url:
        update["providers"] = tuple(p.model_copy(update={"base_url": base_url}) for p in spec.providers)
    if sample_size:
        update["sample_size"] = sample_size
    strong = exp.strong
    if base_url and strong is not None and strong.id.startswith("local/"):
        strong = strong.model_copy(update={"base_url": base_url})
    return exp.model_copy(update={"experiment": spec.model_copy(update=update), "strong": strong})
