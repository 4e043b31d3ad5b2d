"""Run an experiment: every (provider, method) arm over the sampled questions, resumably, within budget.

Each answer is judged and appended to the run's store the moment it arrives; a rerun of the same spec skips every
stored (arm, question), so ``kill -9`` + rerun repeats no call and ends with identical numbers. Threads do the work
(``execution.py``), or with ``ray_address`` each question runs as a Ray task (``ray_backend.py``); budgets and the
pre-flight estimate live in ``budget.py``.
"""

import contextlib
import functools
import json
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from toolkit.experiments import reservation
from toolkit.experiments.accounting import arm_cost, measured_calls
from toolkit.experiments.budget import BudgetTracker, format_preflight, preflight, spent_by_provider
from toolkit.experiments.components import Components
from toolkit.experiments.execution import OnAnswer, run_arms
from toolkit.experiments.results import ExperimentResult, paired_tests, summarize_arm
from toolkit.experiments.spec import ExperimentSpec, SpecError, arm_name, load_spec
from toolkit.experiments.store import AnswerRecord, Store, run_dir
from toolkit.metrics.stats import MIN_PAIRS

SCOPE_FILE = "retrieval.json"
"""What the run's retrieving arms searched (``toolkit.retrieval.scope.RetrievalScope``), written before answering."""

__all__ = [
    "BudgetTracker",
    "OnAnswer",
    "format_preflight",
    "load_result",
    "preflight",
    "run_arms",
    "run_experiment",
    "summarize",
]


def run_experiment(
    spec: ExperimentSpec | str | Path,
    *,
    ray_address: str | None = None,
    progress: bool = True,
    cancel: threading.Event | None = None,
    on_answer: OnAnswer | None = None,
    log: Callable[[ExperimentResult, Path], str] | None = None,
    components: Components | None = None,
    runs_root: Path | None = None,
) -> ExperimentResult:
    """Run (or continue, or replay) ``spec`` and return its results.

    ``log``: called with the finished result and its run folder, returns the MLflow run id it logged to; pass
    ``toolkit.tracking.mlflow_logger(tracking_uri)`` to log (the runner itself does not import tracking). Its
    ``check()``, if it has one, runs before the run folder exists (a tracking server that is down stops the run
    before anything is asked or written).

    ``cancel``: set it from another thread to stop cleanly (answers so far are kept and summarised).
    ``on_answer``: called with each new ``AnswerRecord`` as it is stored (live tables, progress widgets).
    ``ray_address``: run each question as a Ray task (``"local"`` starts a private local Ray; or a cluster address).
    """
    spec = load_spec(spec) if isinstance(spec, str | Path) else spec
    components = components or Components()
    cancel = cancel or threading.Event()
    spec, skipped = available(spec, components, progress)
    questions = _questions(spec, components)
    _check_preconditions(spec, questions, runs_root, log, components)
    store = Store(run_dir(spec.run_key(), runs_root))
    with store.exclusive():
        store.set_aside_torn_tail()
        (store.directory / "spec.yaml").write_text(spec.to_yaml(), encoding="utf-8")
        stored = store.records()
        pending = {
            arm_name(p, m): [q for q in arm_questions(spec, p, m, questions) if (arm_name(p, m), q.id) not in stored]
            for p, m in spec.arms()
        }
        todo = any(pending.values())
        if any(pending[arm_name(p, m)] for p, m in spec.arms() if m.retrieves):
            store.write_json(SCOPE_FILE, components.retrieval_scope(spec)[2].model_dump(mode="json"))
        methods = {m.arm_name: components.method(m) if todo else None for m in spec.methods}
        estimates = preflight(spec, pending, methods, spent_by_provider(stored.values(), store.failures()))
        if progress and todo:
            print(format_preflight(estimates), file=sys.stderr)
        stopped, errors, calls = {}, [], 0
        if todo:
            started, failed_before = time.time(), len(store.failures())
            stopped, errors, calls = _answer(
                spec, questions, pending, store, components, ray_address, cancel, on_answer, progress
            )
            for provider in _answered_providers(spec, store, stored, failed_before):
                reservation.record(store.directory, provider, provider.base_url, started)
        if cancel.is_set():
            for name, missing in pending.items():
                if missing:
                    stopped.setdefault(name, "cancelled")

        result = summarize(spec, questions, store, stopped, errors, calls, estimates)
        result = result.model_copy(update={"skipped": skipped})
        if log is not None:
            result = result.model_copy(update={"mlflow_run_id": log(result, store.directory)})
        store.write_json(
            "result.json",
            {
                "run_key": result.run_key,
                "mlflow_run_id": result.mlflow_run_id,
                "summary": [a.model_dump(mode="json") for a in result.arms],
            },
        )
    return result


def available(spec: ExperimentSpec, components: Components, progress: bool = False):
    """The spec without optional providers whose API key is not set, and why each was left out: the spec that
    runs, and whose run key names the folder its answers are stored in."""
    skipped = {p.name: why for p in spec.providers if p.optional and (why := components.unavailable(p))}
    if not skipped:
        return spec, skipped
    if len(skipped) == len(spec.providers):
        raise SpecError(
            f"every provider is unavailable: {skipped}; set an API key or add a non-optional provider."
        )
    if progress:
        print(
            "skipping optional providers: " + "; ".join(f"{k} ({v})" for k, v in skipped.items()),
            file=sys.stderr,
        )
    return spec.model_copy(
        update={"providers": tuple(p for p in spec.providers if p.name not in skipped)}
    ), skipped


def _answered_providers(spec: ExperimentSpec, store: Store, stored: dict, failed_before: int) -> list:
    """The providers whose endpoint answered at least one network call in this invocation (a new stored answer
    or a failed question that spent tokens): only they are charged a reservation window."""
    answered = {r.provider for key, r in store.records().items()
                if key not in stored and r.answer.usage.calls > r.answer.usage.cached_calls}
    answered |= {f.provider for f in store.failures()[failed_before:] if f.usage.output_tokens}
    return [p for p in spec.providers if p.name in answered]


def _check_preconditions(
    spec: ExperimentSpec, questions, runs_root: Path | None, log, components: Components
) -> None:
    """Before the run folder exists: the endpoints of providers with questions left answer, and so does the
    logger's store (its ``check()``, if it has one); ``preconditions.Unreachable`` otherwise. Reads an existing
    store without creating one."""
    from toolkit import paths

    directory = (runs_root or paths.subdir("runs")) / spec.run_key()
    done = Store(directory).records() if (directory / Store.FILE).exists() else {}
    busy = [p for p in spec.providers if any((arm_name(p, m), q.id) not in done
                                             for m in spec.methods for q in arm_questions(spec, p, m, questions))]
    components.check_endpoints(spec, busy)
    if (check := getattr(log, "check", None)) is not None:
        check()


def _questions(spec: ExperimentSpec, components: Components):
    """The sampled questions; a ``DatasetError`` names the file and line, an empty or short sample is said."""
    questions = components.questions(spec)
    if not questions:
        raise SpecError(
            f"dataset {spec.dataset!r} split {spec.split!r} gave no questions (kinds={spec.kinds}); "
            "check the dataset name, split and kinds in the spec."
        )
    if spec.sample_size is not None and len(questions) < spec.sample_size:
        warnings.warn(
            f"sample_size {spec.sample_size} is larger than dataset {spec.dataset!r} split {spec.split!r}"
            f"{f' (kinds {list(spec.kinds)})' if spec.kinds else ''}: using all {len(questions)} questions.",
            stacklevel=3,
        )
    if len(questions) < MIN_PAIRS:
        many = f"{len(questions)} questions are" if len(questions) > 1 else "1 question is"
        warnings.warn(
            f"{many} fewer than the {MIN_PAIRS} paired questions a comparison needs: no arm difference will get a "
            f"p-value (tables say 'too few to test'); set sample_size to {MIN_PAIRS} or more, or null for the whole split.",
            stacklevel=3,
        )
    return questions


def arm_questions(spec: ExperimentSpec, provider, method, questions) -> tuple:
    """The questions one arm asks: the whole sample, or its nested stratified subset when the provider or the method
    sets a smaller ``sample_size`` (so arms of different sizes share their first questions for paired tests)."""
    from toolkit.datasets import sample_from

    n = spec.arm_sample_size(provider, method)
    return tuple(questions) if n is None or n >= len(questions) else sample_from(questions, n, seed=spec.seed)


def retrieval_scope(spec: ExperimentSpec, store: Store):
    """What the run's retrieving arms searched (None when no arm retrieves; ``UNKNOWN`` for runs stored before the
    scope was recorded)."""
    from toolkit.retrieval.scope import UNKNOWN, RetrievalScope

    if not any(m.retrieves for m in spec.methods):
        return None
    path = store.directory / SCOPE_FILE
    if not path.exists():
        return UNKNOWN
    return RetrievalScope.model_validate_json(path.read_text(encoding="utf-8"))


def _answer(spec, questions, pending, store, components, ray_address, cancel, on_answer, progress):
    """Ask the pending questions (threads, or Ray tasks), emulators running for the providers that need them."""
    from tqdm.auto import tqdm

    bars = {}
    for i, (provider, method) in enumerate(spec.arms()):
        name = arm_name(provider, method)
        planned = len(arm_questions(spec, provider, method, questions))
        bars[name] = tqdm(
            total=planned,
            initial=planned - len(pending[name]),
            desc=name,
            position=i,
            leave=True,
            disable=not progress,
        )
    try:
        with contextlib.ExitStack() as stack:
            base_urls = {}
            for provider in spec.providers:
                busy = any(pending[arm_name(provider, m)] for m in spec.methods)
                if provider.emulate and busy:
                    base_urls[provider.name] = stack.enter_context(components.emulator(provider))
                else:
                    base_urls[provider.name] = provider.base_url
            if ray_address:
                from toolkit.experiments.ray_backend import run_on_ray

                return run_on_ray(spec, pending, store, ray_address, base_urls, cancel, on_answer, bars)
            return run_arms(
                spec,
                pending,
                store,
                components=components,
                base_urls=base_urls,
                cancel=cancel,
                on_answer=on_answer,
                bars=bars,
            )
    finally:
        for bar in bars.values():
            bar.close()


def summarize(
    spec: ExperimentSpec,
    questions,
    store: Store,
    stopped: dict[str, str] | None = None,
    errors: list[str] | None = None,
    network_calls: int = 0,
    estimates=(),
) -> ExperimentResult:
    """The result of whatever the store holds for this spec's arms and questions (no model calls)."""
    stopped = dict(stopped or {})
    records = store.records()
    per_arm = {arm_name(p, m): arm_questions(spec, p, m, questions) for p, m in spec.arms()}
    by_arm: dict[str, list[AnswerRecord]] = {
        name: [records[(name, q.id)] for q in arm_qs if (name, q.id) in records] for name, arm_qs in per_arm.items()
    }
    failed = tuple(
        name
        for name, rows in by_arm.items()
        if not rows and any(e.startswith(f"{name} / ") for e in errors or ())
    )
    for name in failed:
        stopped.setdefault(name, "failed: every question raised an error")
    ordered = tuple(r for rows in by_arm.values() for r in rows)
    measured = measured_calls(ordered)
    asked = {q.id for q in questions}
    failures: dict[str, list] = {name: [] for name in by_arm}
    for failure in store.failures():
        if failure.arm in failures and failure.question_id in asked:
            failures[failure.arm].append(failure)
    reserved = reservation.totals(store.directory)
    arms_of = {p.name: len(spec.methods) for p in spec.providers}

    def share(provider: str) -> tuple[float, float] | None:
        if provider not in reserved:
            return None
        return reserved[provider]["hours"] / arms_of[provider], reserved[provider]["usd"] / arms_of[provider]

    arms = [
        summarize_arm(
            spec,
            arm_name(p, m),
            p.name,
            m.arm_name,
            len(per_arm[arm_name(p, m)]),
            by_arm[arm_name(p, m)],
            stopped.get(arm_name(p, m)),
            accounting=functools.partial(
                arm_cost, failures=failures[arm_name(p, m)], measured=measured, reserved=share(p.name)
            ),
        )
        for p, m in spec.arms()
    ]
    return ExperimentResult(
        spec=spec,
        run_key=spec.run_key(),
        run_dir=str(store.directory),
        arms=tuple(arms),
        comparisons=paired_tests(spec, by_arm),
        records=ordered,
        preflight=tuple(estimates),
        network_calls=network_calls,
        errors=tuple(errors or ()),
        failed_arms=failed,
        retrieval=retrieval_scope(spec, store),
    )


def load_result(run: str | Path, *, runs_root: Path | None = None) -> ExperimentResult:
    """The result of a stored run, from a spec path or a run folder name; reads answers only, calls nothing."""
    candidate = Path(run)
    if candidate.suffix in (".yaml", ".yml"):
        spec = load_spec(candidate)
        directory = run_dir(spec.run_key(), runs_root)
    else:
        from toolkit import paths

        directory = (runs_root or paths.subdir("runs")) / str(run)
        if not (directory / "spec.yaml").exists():
            raise FileNotFoundError(
                f"no stored run {str(run)!r} (expected {directory}/spec.yaml); pass the spec path or a run folder name."
            )
        spec = load_spec(directory / "spec.yaml")
    store = Store(directory)
    records = store.records()
    ids = list(dict.fromkeys(key[1] for key in records))
    questions = [next(r.question for k, r in records.items() if k[1] == qid) for qid in ids]
    tracked = directory / "tracked.json"
    result = summarize(spec, questions, store)
    if tracked.exists():
        result = result.model_copy(
            update={"mlflow_run_id": json.loads(tracked.read_text(encoding="utf-8")).get("run_id")}
        )
    return result
