"""Run strategy arms against the plain baseline on the same questions, and log them like any experiment.

A strategies file wraps an ordinary experiment spec (one provider, one method) and names the arms:

    experiment: {name: strategies, dataset: factbook, sample_size: 6, providers: [local/...], methods: [closed_book]}
    arms:
      batch4: {batching: {k: 4}}
      cascade: {cascade: {strong: groq/llama-3.3-70b-versatile, signals: [abstention]}}

Answers go to the experiments area's result store (resumable), are summarized with its metrics and their
CIs, compared to the baseline with paired tests, and logged through ``tracking`` (one child run per arm, plus the
strategy params and counters). The baseline arm is always run; it is what every strategy is measured against.
"""

import functools
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from toolkit.experiments.spec import ExperimentSpec, ProviderSpec, arm_name, parse_spec
from toolkit.paths import safe_name
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
        return self

    def all_arms(self) -> dict[str, Strategies]:
        return {BASELINE: Strategies(), **{k: v for k, v in self.arms.items() if k != BASELINE}}

    def run_key(self) -> str:
        arms = json.dumps({k: v.model_dump(mode="json") for k, v in self.all_arms().items()}, sort_keys=True)
        return f"{self.experiment.run_key()}-strategies-{hashlib.sha256(arms.encode()).hexdigest()[:8]}"

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
    result: object = Field(description="The experiments area's ExperimentResult (arms with CIs, paired tests).")
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


def run_strategies(
    experiment: StrategyExperiment | str | Path,
    *,
    components=None,
    track: bool = True,
    tracking_uri: str | None = None,
    runs_root: Path | None = None,
    review_root: Path | None = None,
    on_arm: Callable[[str], None] | None = None,
) -> StrategyResult:
    """Answer the sample with every arm (resuming from the store), summarize, compare with baseline, log."""
    from toolkit.experiments.accounting import arm_cost, measured_calls
    from toolkit.experiments.components import Components, needs_retriever
    from toolkit.experiments.results import ExperimentResult, paired_tests, summarize_arm
    from toolkit.experiments.store import AnswerRecord, Store, run_dir
    from toolkit.metrics.stats import adjust
    from toolkit.strategies.arm import StrategyArm
    from toolkit.strategies.caching import AnswerCache
    from toolkit.strategies.report import savings, strategy_metrics
    from toolkit.strategies.review import ReviewQueue, review_summary

    exp = experiment if isinstance(experiment, StrategyExperiment) else load_strategy_experiment(experiment)
    components = components or Components()
    spec = exp.experiment
    provider, method_spec = spec.providers[0], spec.methods[0]
    questions = list(components.questions(spec))
    if not questions:
        raise ValueError(f"dataset {spec.dataset!r} split {spec.split!r} gave no questions; check the experiment block")
    key = exp.run_key()
    store = Store(run_dir(key, runs_root))
    stored = store.records()
    method = components.method(method_spec)
    judge = components.judge_stage(spec)
    llm = retriever = strong = None
    queues: dict[str, str] = {}
    for name, strategies in exp.all_arms().items():
        label = exp.arm_label(name)
        pending = [q for q in questions if (label, q.id) not in stored]
        if strategies.review:
            queues[name] = f"{key}-{name}"
        if not pending:
            continue
        if on_arm:
            on_arm(name)
        llm = llm or components.chat_model(provider, provider.base_url)
        if needs_retriever(method_spec, method) and retriever is None:
            retriever = components.retriever(spec)
        if strategies.cascade and strong is None:
            strong_spec = exp.strong or ProviderSpec(id=strategies.cascade.strong, params=provider.params)
            strong = components.chat_model(strong_spec, strong_spec.base_url)
        cache = None
        if strategies.caching:
            path = strategies.caching.path or store.directory / f"answer_cache-{safe_name(name)}.sqlite"
            cache = AnswerCache(strategies.caching, path)
        review_queue = None
        if strategies.review:
            review_queue = ReviewQueue(queues[name], root=review_root) if review_root else ReviewQueue(queues[name])
        arm = StrategyArm(method, strategies, provider.name, strong_llm=strong, cache=cache,
                          review_queue=review_queue, arm=label, scorer=_accuracy)
        for question, answer in zip(pending, arm.answer_many(pending, llm, retriever), strict=True):
            store.append(AnswerRecord(
                arm=label, provider=provider.name, method=method_spec.arm_name, question=question, answer=answer,
                latency_s=answer.usage.latency_s, verdicts=judge(label, question, answer),
            ))
        if cache:
            cache.close()

    records = store.records()
    by_arm = {exp.arm_label(n): [records[(exp.arm_label(n), q.id)] for q in questions
                                 if (exp.arm_label(n), q.id) in records] for n in exp.all_arms()}
    # The runner's accounting: an arm whose calls another arm made (the response cache answered them) is timed and
    # charged with the original calls, not as a 0 s, $0 replay.
    measured = measured_calls(r for rows in by_arm.values() for r in rows)
    summaries = tuple(summarize_arm(spec, label, provider.name, method_spec.arm_name, len(questions), rows,
                                    accounting=functools.partial(arm_cost, measured=measured))
                      for label, rows in by_arm.items())
    base_label = exp.arm_label(BASELINE)
    comparisons = adjust([t for label, rows in by_arm.items() if label != base_label  # one Holm family
                          for t in paired_tests(spec, {base_label: by_arm[base_label], label: rows})])
    result = ExperimentResult(spec=spec, run_key=key, run_dir=str(store.directory), arms=summaries,
                              comparisons=comparisons, records=tuple(r for rows in by_arm.values() for r in rows))

    counters: dict[str, dict[str, float]] = {}
    base_counts = None
    for name in exp.all_arms():
        rows = by_arm[exp.arm_label(name)]
        counts = strategy_metrics([r.answer for r in rows], [_accuracy(r.question, r.answer) for r in rows])
        base_counts = base_counts or counts
        counts |= savings(counts, base_counts)
        if name in queues:
            queue = ReviewQueue(queues[name], root=review_root) if review_root else ReviewQueue(queues[name])
            counts |= review_summary(queue, {r.question.id: _accuracy(r.question, r.answer) for r in rows},
                                     {r.question.id: r.verdict for r in rows})
        counters[name] = counts

    arm_runs: dict[str, str] = {}
    if track:
        from toolkit import tracking

        parent = tracking.log_experiment(result, tracking_uri=tracking_uri)
        result = result.model_copy(update={"mlflow_run_id": parent})
        runs = tracking.load_runs(spec.name, tracking_uri=tracking_uri, parent_run_id=parent)
        by_label = dict(zip(runs["tags.tierlab.arm"], runs["run_id"], strict=True))
        for name, strategies in exp.all_arms().items():
            run_id = by_label[exp.arm_label(name)]
            arm_runs[name] = run_id
            tracking.log_to_run(run_id, params=strategies.params(), tracking_uri=tracking_uri,
                                metrics={f"strategy.{k}": v for k, v in counters[name].items()})
    return StrategyResult(experiment=exp, result=result, counters=counters, review_queues=queues, arm_runs=arm_runs)


def sync_review(result: StrategyResult, *, review_root: Path | None = None, tracking_uri: str | None = None) -> dict:
    """Push human marks into the arms' MLflow runs as ``accuracy_reviewed`` (next to the automatic accuracy)."""
    from toolkit.strategies.review import ReviewQueue, review_summary

    out = {}
    for name, queue_name in result.review_queues.items():
        label = result.experiment.arm_label(name)
        rows = [r for r in result.result.records if r.arm == label]
        queue = ReviewQueue(queue_name, root=review_root) if review_root else ReviewQueue(queue_name)
        summary = review_summary(queue, {r.question.id: _accuracy(r.question, r.answer) for r in rows},
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
