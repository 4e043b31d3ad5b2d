"""From stored answers to numbers: per-arm metrics with CIs, cost and latency, and paired tests between arms.

Everything here is a pure function of the stored records and the spec (seeded bootstrap and permutations), so a
replay of a finished experiment reproduces the same numbers exactly without a single model call. The statistics
themselves (Wilson/BCa intervals, McNemar/permutation tests, Holm) live in ``toolkit.metrics.stats``.
"""

import hashlib
import itertools
import json
from collections.abc import Callable, Iterable

import numpy as np
from pydantic import Field

from toolkit.experiments.spec import ExperimentSpec
from toolkit.experiments.store import AnswerRecord
from toolkit.metrics import binary_metrics, retrieval_metrics, score
from toolkit.metrics.retrieval import retrieved
from toolkit.metrics.stats import (
    Interval,
    PairedTest,
    adjust,
    cohen_kappa,
    compare_answered,
    mean_ci,
    ratio_ci,
)
from toolkit.records import Record, Usage
from toolkit.retrieval.scope import RetrievalScope


class ArmEstimate(Record):
    """Pre-flight: what an arm is expected to spend on the questions still to answer."""

    arm: str
    provider: str
    pending: int
    calls: int
    tokens: int
    over_budget: str | None = Field(
        default=None, description="Which cap the provider's arms together would exceed."
    )


class ArmSummary(Record):
    arm: str
    provider: str
    method: str
    planned: int
    answered: int
    stopped: str | None = Field(
        default=None, description="Why the arm stopped early (budget, quota, cancelled, error)."
    )
    metrics: dict[str, Interval | None] = Field(
        description="Mean per question with its CI (Wilson for proportions, BCa bootstrap otherwise) and n; None "
        "where no question applies."
    )
    cost: dict[str, float | None] = Field(
        description="Usage totals, latency percentiles and cost per correct answer."
    )
    retrieval_by_kind: dict[str, dict[str, Interval | None]] = Field(
        default_factory=dict,
        description="Retrieving arms: each retrieval-quality metric per question kind (the overall figure is in "
        "``metrics``); empty for an arm that did not retrieve.",
    )


class ExperimentResult(Record):
    spec: ExperimentSpec
    run_key: str
    run_dir: str
    arms: tuple[ArmSummary, ...]
    comparisons: tuple[PairedTest, ...]
    records: tuple[AnswerRecord, ...]
    preflight: tuple[ArmEstimate, ...] = ()
    network_calls: int = Field(
        default=0,
        description="Requests the model servers received during this invocation (retries, 429s and failed "
        "attempts included; cache hits are not).",
    )
    errors: tuple[str, ...] = Field(
        default=(), description="Questions that failed (retried on the next run)."
    )
    skipped: dict[str, str] = Field(default_factory=dict, description="Optional providers left out, and why.")
    failed_arms: tuple[str, ...] = Field(
        default=(), description="Arms whose every attempted question failed this run (nothing answered)."
    )
    mlflow_run_id: str | None = None
    retrieval: RetrievalScope | None = Field(
        default=None, description="What the retrieving arms searched (None when no arm retrieves)."
    )

    def digest(self) -> str:
        """Identifies the logged content, so replaying a finished run does not log a duplicate MLflow run."""
        payload = json.dumps(
            [
                self.spec.model_dump(mode="json"),
                [r.model_dump(mode="json", exclude={"finished_at"}) for r in self.records],
            ],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def arm_labels(self) -> dict[str, str]:
        """Arm name -> the short label tables, plots and MLflow show (``rag · local``; ``spec.arm_labels``)."""
        from toolkit.experiments.spec import arm_labels

        return arm_labels(self.spec, [a.arm for a in self.arms])

    def summary_frame(self):
        """One row per arm: headline metrics as value and CI bounds, cost and latency."""
        import pandas as pd

        rows = []
        for arm in self.arms:
            row: dict = {
                "arm": arm.arm,
                "provider": arm.provider,
                "method": arm.method,
                "answered": arm.answered,
                "planned": arm.planned,
                "stopped": arm.stopped,
            }
            for name, interval in arm.metrics.items():
                row[name] = interval.value if interval else None
                row[f"{name}_low"] = interval.low if interval else None
                row[f"{name}_high"] = interval.high if interval else None
            row.update(arm.cost)
            rows.append(row)
        return pd.DataFrame(rows)

    def paired_frame(self, metrics: Iterable[str] | None = None):
        """The paired tests as a table to read (arm A − arm B on the questions both answered): the difference with
        its interval, the test, and p-values as text — "too few to test (n < 10)" rather than an empty ``None``."""
        import pandas as pd

        wanted = None if metrics is None else set(metrics)
        return pd.DataFrame(
            [{"metric": t.metric, "arm A": t.arm_a, "arm B": t.arm_b, "n": t.n, "A − B [CI]": t.diff_text(),
              "test": t.test, "p": t.p_text(), "p (Holm)": t.p_text(adjusted=True)}
             for t in self.comparisons if wanted is None or t.metric in wanted],
            columns=["metric", "arm A", "arm B", "n", "A − B [CI]", "test", "p", "p (Holm)"],
        )

    def questions_frame(self):
        """One row per (arm, question): the answer, its scores and verdicts (the per-question MLflow table), and
        how many of its calls were shared with another arm of the run (``toolkit.experiments.accounting``)."""
        import pandas as pd

        from toolkit.experiments.accounting import measured_calls, shared_steps

        measured = measured_calls(self.records)
        return pd.DataFrame(
            [
                question_row(r, self.spec.metrics) | {"shared_calls": len(shared_steps(r, measured))}
                for r in self.records
            ]
        )


def question_row(record: AnswerRecord, metrics: Iterable[str]) -> dict:
    usage = record.answer.usage
    row = {
        "arm": record.arm,
        "provider": record.provider,
        "method": record.method,
        "question_id": record.question.id,
        "kind": record.question.kind,
        "question": record.question.question,
        "gold": "; ".join(record.question.answers),
        "answer": record.answer.text,
        "flags": ", ".join(record.answer.flags),
        "latency_s": record.latency_s,
        "cached": record.answer.cached,
        "calls": usage.calls,
        "tokens": usage.total_tokens,
        "cost_usd": usage.cost_usd,
        "shadow_cost_usd": usage.shadow_cost_usd,
    }
    row.update(score(record.question, record.answer, metrics))
    if retrieved(record.answer):
        row.update(score(record.question, record.answer, retrieval_metrics()))
    row["hallucination"] = None if record.verdict.unknown else float(record.verdict.hallucinated)
    row["groundedness"] = record.verdict.groundedness
    row["verdict_reason"] = record.verdict.reason
    if record.llm_verdict is not None:
        row["llm_hallucination"] = None if record.llm_verdict.unknown else float(record.llm_verdict.hallucinated)
    return row


def _per_question(
    records: list[AnswerRecord], metrics: tuple[str, ...]
) -> dict[str, dict[str, float | None]]:
    """metric -> question id -> value, including the judge's columns."""
    table: dict[str, dict[str, float | None]] = {}
    for record in records:
        row = question_row(record, metrics)
        for name in (*metrics, "hallucination", "groundedness", "llm_hallucination"):
            if name in row:
                table.setdefault(name, {})[record.question.id] = row[name]
    return table


def total_cost_usd(cost: dict) -> float:
    """An arm's one sortable price (``ArmSummary.cost`` in): the list price of its calls — what was charged, or what
    the paid tier would have charged when nothing was; the larger of the two, so a paid call is not counted twice —
    plus self-hosted capacity time. An LLM judge's own calls are not in it."""
    charged, shadow = float(cost.get("cost_usd") or 0.0), float(cost.get("shadow_cost_usd") or 0.0)
    return max(charged, shadow) + float(cost.get("selfhosted_cost_usd") or 0.0)


def _cost(records: list[AnswerRecord], correct: int) -> dict[str, float | None]:
    usage = sum((r.answer.usage for r in records), Usage())
    judge = sum((r.llm_verdict.usage for r in records if r.llm_verdict), Usage())
    latencies = np.asarray([r.latency_s for r in records], dtype=float)

    def per_correct(total: float) -> float | None:
        return total / correct if correct else None

    return {
        "calls": usage.calls,
        "network_calls": sum(r.answer.usage.server_requests for r in records),
        "cached_calls": usage.cached_calls,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "rate_limited": usage.rate_limited,
        "cost_usd": usage.cost_usd,
        "shadow_cost_usd": usage.shadow_cost_usd,
        "selfhosted_cost_usd": usage.selfhosted_cost_usd,
        "latency_p50_s": float(np.percentile(latencies, 50)) if latencies.size else None,
        "latency_p95_s": float(np.percentile(latencies, 95)) if latencies.size else None,
        "correct": correct,
        "cost_per_correct_usd": per_correct(usage.cost_usd),
        "shadow_cost_per_correct_usd": per_correct(usage.shadow_cost_usd),
        "selfhosted_cost_per_correct_usd": per_correct(usage.selfhosted_cost_usd),
        "judge_calls": judge.calls,
        "judge_cost_usd": judge.cost_usd,
        "judge_shadow_cost_usd": judge.shadow_cost_usd,
    }


def summarize_arm(
    spec: ExperimentSpec,
    arm: str,
    provider: str,
    method: str,
    planned: int,
    records: list[AnswerRecord],
    stopped: str | None = None,
    accounting: Callable[[list[AnswerRecord], int], dict] | None = None,
) -> ArmSummary:
    """``accounting(records, correct)`` overrides the plain usage sums with the run's accounting (cache replays,
    shared calls, failed questions: ``toolkit.experiments.accounting``)."""
    boot = {"confidence": spec.confidence, "n_resamples": spec.bootstrap_resamples, "seed": spec.seed}
    table = _per_question(records, spec.metrics)
    metrics: dict[str, Interval | None] = {
        name: mean_ci(list(table.get(name, {}).values()), **boot) for name in spec.metrics
    }
    metrics["hallucination_rate"] = mean_ci(list(table.get("hallucination", {}).values()), **boot)
    lists = [r.verdict for r in records if r.question.kind == "list"]
    metrics["entity_hallucination_rate"] = ratio_ci(
        [v.unsupported_entities for v in lists], [v.entities for v in lists], **boot
    )
    metrics["groundedness"] = mean_ci(list(table.get("groundedness", {}).values()), **boot)
    judged = [r for r in records if r.llm_verdict is not None and not r.llm_verdict.unknown]
    if judged:
        metrics["llm_hallucination_rate"] = mean_ci(
            [float(r.llm_verdict.hallucinated) for r in judged], **boot
        )
    by_kind = {}
    if any(retrieved(r.answer) for r in records):
        metrics |= _retrieval(records, boot, "all")
        kinds = sorted({r.question.kind for r in records})
        by_kind = {kind: _retrieval([r for r in records if r.question.kind == kind], boot, kind) for kind in kinds}
    correct = int(sum(v or 0 for v in table.get("accuracy", {}).values()))
    cost = _cost(records, correct) | (accounting(records, correct) if accounting else {})
    if judged:
        agree = cohen_kappa(
            [r.verdict.hallucinated for r in judged], [r.llm_verdict.hallucinated for r in judged]
        )
        cost.update(
            {"judge_agreement": agree["agreement"], "judge_kappa": agree["kappa"], "judge_n": agree["n"]}
        )
    return ArmSummary(
        arm=arm,
        provider=provider,
        method=method,
        planned=planned,
        answered=len(records),
        stopped=stopped,
        metrics=metrics,
        cost=cost,
        retrieval_by_kind=by_kind,
    )


def _retrieval(records: list[AnswerRecord], boot: dict, kind: str) -> dict[str, Interval | None]:
    """Each retrieval-quality metric's mean with its interval over ``records`` (a kind's, or all of an arm's);
    metrics that apply to none of them are left out of a kind's row."""
    table = {name: score_values(records, name) for name in retrieval_metrics()}
    return {name: mean_ci(values, binary=name in binary_metrics(), **boot)
            for name, values in table.items() if kind == "all" or values}


def score_values(records: list[AnswerRecord], name: str) -> list[float]:
    """The non-None values of metric ``name`` over ``records``."""
    values = (score(r.question, r.answer, (name,))[name] for r in records)
    return [v for v in values if v is not None]


def paired_tests(spec: ExperimentSpec, by_arm: dict[str, list[AnswerRecord]]) -> tuple[PairedTest, ...]:
    """Every pair of arms, every metric (plus hallucination), on the questions both arms answered.

    ``p_adjusted`` is Holm over all of these tests (one family, as the report shows them together); a caller that
    shows several such sets together re-adjusts the union with ``stats.adjust``.
    """
    tables = {arm: _per_question(records, spec.metrics) for arm, records in by_arm.items()}
    tests = []
    for arm_a, arm_b in itertools.combinations(sorted(tables), 2):
        for name in (*spec.metrics, "hallucination"):
            test = compare_answered(
                name,
                arm_a,
                tables[arm_a].get(name, {}),
                arm_b,
                tables[arm_b].get(name, {}),
                binary=name in binary_metrics(),
                confidence=spec.confidence,
                n_resamples=spec.bootstrap_resamples,
                seed=spec.seed,
            )
            if test is not None:
                tests.append(test)
    return adjust(tests)
