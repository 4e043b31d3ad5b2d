"""Power before a run: how many paired questions a spec needs to detect a difference, and how many free-tier days.

"With N paired questions you can detect X at 80% power" and "to detect X you need N questions = D days of this
provider's free tier". The statistics are ``toolkit.metrics.power`` (the reported tests: exact McNemar for binary
metrics, the paired permutation test otherwise); the days come from the calls and tokens each arm spends per question
(measured on a finished run's stored answers when given, else estimated like the run's pre-flight) replayed against
the catalog's RPM/RPD/TPM/TPD by the planner's quota simulation (``toolkit.planner.quota``).
"""

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from toolkit.experiments.spec import ExperimentSpec
from toolkit.experiments.store import AnswerRecord
from toolkit.metrics import metric_info
from toolkit.metrics import power as stats_power
from toolkit.metrics.stats import MIN_PAIRS
from toolkit.records import Record


class ArmCost(Record):
    provider: str
    method: str
    calls_per_question: float
    tokens_per_question: float
    source: str


class ProviderDays(Record):
    provider: str
    calls_per_question: float
    tokens_per_question: float
    questions_per_day: float | None = None
    binding_limit: str | None = None
    days: float | None = None
    note: str = ""


class PowerPlan(Record):
    solved_for: str
    metric: str
    binary: bool
    test: str
    alpha: float
    target: float
    assumption: str
    questions: int | None
    effect: float | None
    power: float | None
    holm_comparisons: int
    holm_questions: int | None
    arms: tuple[ArmCost, ...]
    providers: tuple[ProviderDays, ...]


def measured_assumption(records: Iterable[AnswerRecord], metric: str, binary: bool) -> float | None:
    """Discordant rate (binary) or SD of per-question differences (continuous), averaged over every pair of arms."""
    from toolkit.experiments.results import question_row

    values: dict[str, dict[str, float]] = defaultdict(dict)
    for record in records:
        value = question_row(record, (metric,)).get(metric)
        if value is not None and not math.isnan(value):
            values[record.arm][record.question.id] = float(value)
    estimates = []
    for a, b in itertools.combinations(sorted(values), 2):
        common = sorted(set(values[a]) & set(values[b]))
        if len(common) < 2:
            continue
        diffs = np.asarray([values[a][q] - values[b][q] for q in common])
        estimates.append(float(np.mean(diffs != 0)) if binary else float(np.std(diffs, ddof=1)))
    return float(np.mean(estimates)) if estimates else None


def arm_costs(spec: ExperimentSpec, records: Iterable[AnswerRecord] = ()) -> tuple[ArmCost, ...]:
    """Calls and tokens per question of every arm: measured on stored answers where there are some, else estimated."""
    from toolkit.experiments.budget import estimate_question
    from toolkit.methods import get_method

    measured: dict[tuple[str, str], list[AnswerRecord]] = defaultdict(list)
    for record in records:
        measured[(record.provider, record.method)].append(record)
    out = []
    for provider, method in spec.arms():
        rows = measured.get((provider.name, method.arm_name))
        if rows:
            calls = float(np.mean([r.answer.usage.calls for r in rows]))
            tokens = float(np.mean([r.answer.usage.total_tokens for r in rows]))
            source = f"measured on {len(rows)} stored answers"
        else:
            per_call, per_tokens = estimate_question(provider, method, get_method(method.name, **method.options), 0)
            calls, tokens, source = float(per_call), float(per_tokens), "estimated (expected calls x (prompt + max_tokens))"
        out.append(ArmCost(provider=provider.name, method=method.arm_name, calls_per_question=calls,
                           tokens_per_question=tokens, source=source))
    return tuple(out)


def provider_days(spec: ExperimentSpec, costs: tuple[ArmCost, ...], questions: int | None) -> tuple[ProviderDays, ...]:
    """Per provider: what all its arms spend per question, how many questions its free tier admits per day, and days.

    The day is simulated minute by minute by the planner's ``check_quota`` with the questions spread evenly over
    the provider's quota day; the traffic multiplier it reports is the number of questions per day that fit.
    """
    from toolkit.experiments.budget import TOKENS_PER_CALL_PROMPT
    from toolkit.planner.inputs import offer_from_entry
    from toolkit.planner.quota import check_quota
    from toolkit.planner.workload import Workload
    from toolkit.providers import load_catalog

    catalog, out = load_catalog(), []
    for provider in spec.providers:
        mine = [c for c in costs if c.provider == provider.name]
        calls = sum(c.calls_per_question for c in mine)
        tokens = sum(c.tokens_per_question for c in mine)
        for _ in (j for j in spec.judges if j.provider == provider.id):  # an LLM judge: one call per answer
            calls, tokens = calls + len(mine), tokens + len(mine) * (TOKENS_PER_CALL_PROMPT + 8)
        entry = catalog.entry(provider.id)
        limits = offer_from_entry(entry).free
        row = ProviderDays(provider=provider.name, calls_per_question=calls, tokens_per_question=tokens)
        if limits is None or calls == 0:
            row = row.model_copy(update={"note": f"{entry.kind}: no free-tier quota to wait for"})
        else:
            verdict = check_quota(limits, Workload(daily_active_users=1, requests_per_user=1.0),
                                  calls_per_request=calls, tokens_per_call=tokens / calls)
            binding = min(verdict.checks, key=lambda c: c.headroom, default=None)
            per_day = verdict.max_traffic_multiplier
            row = row.model_copy(update={
                "questions_per_day": per_day,
                "binding_limit": f"{binding.limit.upper()} {binding.value:g}" if binding else None,
                "days": questions / per_day if questions and per_day else None,
                "note": "emulated free tier" if provider.emulate else "",
            })
        out.append(row)
    return tuple(out)


def plan_power(
    spec: ExperimentSpec,
    *,
    effect: float | None = None,
    questions: int | None = None,
    metric: str = "accuracy",
    discordant: float | None = None,
    sd: float | None = None,
    alpha: float = 0.05,
    target: float = 0.8,
    records: Iterable[AnswerRecord] = (),
) -> PowerPlan:
    """Both directions of the power question for ``spec``; ``records`` (a finished run's answers) replace estimates.

    Without ``effect`` or ``questions`` the spec's ``sample_size`` is the N. The discordant rate / SD is, in order:
    the argument, measured on ``records``, the documented default.
    """
    records = list(records)
    binary = metric_info(metric).binary  # unknown names fail here with a did-you-mean
    if questions is None and effect is None:
        questions = spec.sample_size
        if questions is None:
            raise ValueError("give the difference to detect (--effect) or a number of paired questions (--questions)")
    if questions is not None and questions < 1:
        raise ValueError(f"the number of paired questions must be >= 1, got {questions}")
    given = discordant if binary else sd
    measured = measured_assumption(records, metric, binary) if given is None and records else None
    default = stats_power.DEFAULT_DISCORDANT if binary else stats_power.DEFAULT_DIFF_SD
    value = given if given is not None else (measured or default)  # a measured 0 (arms never differed) says too little
    what = "discordant rate (share of questions exactly one of two arms gets right)" if binary else \
        "SD of per-question differences"
    if given is not None:
        origin = "given"
    elif measured:
        origin = f"measured on {len(records)} stored answers"
    else:
        origin = ("default assumption; the stored arms never differed" if measured == 0 else "default assumption") + \
            "; pass --discordant/--sd or --from-run to measure it"
    if binary and not 0 < value <= 1:
        raise ValueError(f"the discordant rate must be in (0, 1], got {value}")
    power_of = stats_power.power_function(binary, discordant=value, sd=value, alpha=alpha)
    largest = min(value, 0.999) if binary else 0.999
    solved_for = "power" if effect is not None and questions is not None else (
        "questions" if effect is not None else "effect")
    if effect is not None and questions is None:
        questions = stats_power.required_questions(power_of, effect, target)
    elif questions is not None and effect is None:
        effect = stats_power.detectable_effect(power_of, questions, target, largest=largest)
    achieved = power_of(questions, effect) if questions is not None and effect is not None else None
    pairs = math.comb(len(spec.arms()), 2)
    family = max(1, pairs * (len(spec.metrics) + 1))  # every pair x every metric + hallucination, one Holm family
    holm = None
    if effect is not None:
        strict = stats_power.power_function(binary, discordant=value, sd=value, alpha=alpha / family)
        holm = stats_power.required_questions(strict, effect, target)
    costs = arm_costs(spec, records)
    return PowerPlan(
        solved_for=solved_for, metric=metric, binary=binary, test="exact McNemar" if binary else "paired permutation", alpha=alpha,
        target=target, assumption=f"{what} {value:.3g} ({origin})", questions=questions, effect=effect,
        power=achieved, holm_comparisons=family, holm_questions=holm, arms=costs,
        providers=provider_days(spec, costs, questions),
    )


def _days(days: float | None) -> str:
    if days is None:
        return "–"
    return f"{days:.2f} (under a day)" if days < 1 else f"{days:.1f}"


def stored_records(spec: ExperimentSpec, runs_root: Path | None = None) -> list[AnswerRecord]:
    """The answers already stored for ``spec`` (empty before its first run); creates no folder."""
    from toolkit import paths
    from toolkit.experiments.store import Store

    directory = (runs_root or paths.subdir("runs")) / spec.run_key()
    return list(Store(directory).records().values()) if (directory / Store.FILE).is_file() else []


def power_sentences(plan: PowerPlan) -> list[str]:
    """The answer in words: the test and its assumption, then N for X (or X for N), then what Holm asks for."""
    lines = [f"Power for {plan.metric} ({'binary' if plan.binary else 'continuous'}: {plan.test}, two-sided, "
             f"alpha {plan.alpha:g}, target power {plan.target:.0%}).", f"Assumption: {plan.assumption}."]
    n, x = plan.questions, plan.effect
    if n is not None and n < MIN_PAIRS:
        lines.append(f"With {n} paired questions nothing can be detected: fewer than {MIN_PAIRS} are never tested.")
    elif n is None:
        lines.append(f"A difference of {x:g} needs more than {stats_power.MAX_QUESTIONS:,} questions.")
    elif x is None:
        lines.append(f"With {n} paired questions no difference reaches {plan.target:.0%} power under this assumption.")
    elif plan.solved_for == "effect":
        lines.append(f"With {n} paired questions you can detect a difference of {x:.3g} at {plan.target:.0%} power.")
    elif plan.solved_for == "questions":
        lines.append(f"To detect a difference of {x:.3g} you need {n} paired questions (power {plan.power:.1%}).")
    else:
        lines.append(f"With {n} paired questions the power to detect a difference of {x:.3g} is {plan.power:.1%}.")
    if plan.holm_questions is not None and plan.holm_comparisons > 1:
        lines.append(f"The report Holm-adjusts all {plan.holm_comparisons} comparisons (every arm pair x metric): for "
                     f"the first of them to pass alpha/{plan.holm_comparisons} you need {plan.holm_questions} questions.")
    return lines


def provider_headers(plan: PowerPlan) -> tuple[str, ...]:
    n = plan.questions if plan.questions is not None else "–"
    return ("provider", "calls / question", "tokens / question", "free-tier questions / day", "binding limit",
            f"days for {n} questions", "note")


def provider_rows(plan: PowerPlan) -> list[list[str]]:
    return [[p.provider, f"{p.calls_per_question:g}", f"{p.tokens_per_question:,.0f}",
             "–" if p.questions_per_day is None else f"{p.questions_per_day:,.1f}", p.binding_limit or "–",
             _days(p.days), p.note] for p in plan.providers]


ARM_HEADERS = ("arm", "calls / question", "tokens / question", "source")


def arm_rows(plan: PowerPlan) -> list[list[str]]:
    return [[f"{a.provider} | {a.method}", f"{a.calls_per_question:g}", f"{a.tokens_per_question:,.0f}", a.source]
            for a in plan.arms]


def _markdown_table(headers, rows) -> list[str]:
    cells = [[str(c).replace("|", "\\|") for c in row] for row in [list(headers), *rows]]
    return ["| " + " | ".join(cells[0]) + " |", "|---" * len(headers) + "|", *("| " + " | ".join(r) + " |" for r in cells[1:])]


def power_markdown(plan: PowerPlan) -> str:
    """The answer in words and two tables: days per provider, and calls/tokens per arm with their source."""
    lines = [*power_sentences(plan), "", *_markdown_table(provider_headers(plan), provider_rows(plan)), "",
             *_markdown_table(ARM_HEADERS, arm_rows(plan))]
    return "\n".join(lines) + "\n"
