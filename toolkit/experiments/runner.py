"""Run an experiment: every (provider, method) arm over the sampled questions, resumably, within budget.

Plain threads (a ``ThreadPoolExecutor``) bound the work: ``spec.concurrency`` questions in flight overall and
``provider.concurrency`` per provider, so the same synchronous call works in a script and inside Jupyter's running
event loop (no asyncio.run, no nest_asyncio). Each answer is judged and appended to the run's store the moment it
arrives; a rerun of the same spec skips every stored (arm, question), so ``kill -9`` + rerun repeats no call and
ends with identical numbers. With ``ray_address`` each arm runs as a Ray task instead.
"""

import contextlib
import json
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from toolkit.experiments.components import Components, expected_calls, needs_retriever
from toolkit.experiments.results import ArmEstimate, ExperimentResult, paired_tests, summarize_arm
from toolkit.experiments.spec import Budget, ExperimentSpec, MethodSpec, ProviderSpec, arm_name, load_spec
from toolkit.experiments.store import AnswerRecord, Store, run_dir
from toolkit.metrics.hallucination import judge_llm, judge_rules
from toolkit.records import Question, Usage

TOKENS_PER_CALL_PROMPT = 400
"""Rough prompt size for the pre-flight token estimate (plus each call's max_tokens)."""

OnAnswer = Callable[[AnswerRecord], None]


class BudgetTracker:
    """One provider's spending against its caps, shared by its arms' threads.

    Before a question starts, its expected calls and tokens are reserved; a question whose reservation would
    cross a cap does not start (so caps are never overrun by more than an estimate's error).
    """

    def __init__(self, budget: Budget, spent: Usage | None = None, share: float = 1.0):
        self.budget, self.share = budget, share
        spent = spent or Usage()
        self.requests, self.tokens, self.usd = (
            spent.calls - spent.cached_calls,
            spent.total_tokens,
            spent.cost_usd,
        )
        self.reserved_requests = self.reserved_tokens = 0
        self._lock = threading.Lock()

    def _cap(self, value: float | None) -> float | None:
        return None if value is None else value * self.share

    def reserve(self, calls: int, tokens: int) -> str | None:
        """Reserve a question's expected spend, or say which cap it would cross."""
        with self._lock:
            cap = self._cap(self.budget.max_requests)
            if cap is not None and self.requests + self.reserved_requests + calls > cap:
                return f"budget: max_requests={self.budget.max_requests} reached"
            cap = self._cap(self.budget.max_tokens)
            if cap is not None and self.tokens + self.reserved_tokens + tokens > cap:
                return f"budget: max_tokens={self.budget.max_tokens} reached"
            cap = self._cap(self.budget.max_usd)
            if cap is not None and self.usd >= cap:
                return f"budget: max_usd={self.budget.max_usd} reached"
            self.reserved_requests += calls
            self.reserved_tokens += tokens
            return None

    def settle(self, calls: int, tokens: int, usage: Usage | None) -> None:
        with self._lock:
            self.reserved_requests -= calls
            self.reserved_tokens -= tokens
            if usage is not None:
                self.requests += usage.calls - usage.cached_calls
                self.tokens += usage.total_tokens if usage.calls > usage.cached_calls else 0
                self.usd += usage.cost_usd


def _estimate(provider: ProviderSpec, method: MethodSpec, method_callable, pending: int) -> tuple[int, int]:
    calls = expected_calls(method, method_callable)
    max_tokens = int(provider.params.get("max_tokens", 256))
    return calls, calls * (TOKENS_PER_CALL_PROMPT + max_tokens)


def preflight(
    spec: ExperimentSpec,
    pending: dict[str, list[Question]],
    methods: dict[str, Callable],
    spent: dict[str, Usage],
) -> tuple[ArmEstimate, ...]:
    """Expected calls and tokens per arm for the questions still to answer, flagged where a cap would be crossed."""
    estimates, totals = [], defaultdict(lambda: [0, 0])
    for provider, method in spec.arms():
        name = arm_name(provider, method)
        per_call, per_tokens = _estimate(provider, method, methods[method.arm_name], 0)
        n = len(pending[name])
        estimates.append(
            (
                provider,
                ArmEstimate(
                    arm=name, provider=provider.name, pending=n, calls=n * per_call, tokens=n * per_tokens
                ),
            )
        )
        totals[provider.name][0] += n * per_call
        totals[provider.name][1] += n * per_tokens
    flagged = []
    for provider, estimate in estimates:
        calls, tokens = totals[provider.name]
        used = spent.get(provider.name, Usage())
        over = None
        if (
            provider.budget.max_requests is not None
            and used.calls - used.cached_calls + calls > provider.budget.max_requests
        ):
            over = f"~{calls} more requests vs max_requests={provider.budget.max_requests}"
        elif (
            provider.budget.max_tokens is not None and used.total_tokens + tokens > provider.budget.max_tokens
        ):
            over = f"~{tokens} more tokens vs max_tokens={provider.budget.max_tokens}"
        flagged.append(estimate.model_copy(update={"over_budget": over}))
    return tuple(flagged)


def format_preflight(estimates: tuple[ArmEstimate, ...]) -> str:
    lines = ["pre-flight (questions still to answer, expected model calls and tokens):"]
    for e in estimates:
        warn = (
            f"  !! would exceed the budget ({e.over_budget}); the arm stops at the cap"
            if e.over_budget
            else ""
        )
        lines.append(f"  {e.arm}: {e.pending} questions, ~{e.calls} calls, ~{e.tokens} tokens{warn}")
    return "\n".join(lines)


class _Execution:
    """One invocation's shared state: resources built on first use, budgets, stop reasons, progress."""

    def __init__(
        self,
        spec: ExperimentSpec,
        components: Components,
        store: Store,
        base_urls: dict[str, str | None],
        budgets: dict[str, BudgetTracker],
        cancel: threading.Event,
        on_answer: OnAnswer | None,
        bars: dict,
    ):
        self.spec, self.components, self.store, self.base_urls = spec, components, store, base_urls
        self.budgets, self.cancel, self.on_answer, self.bars = budgets, cancel, on_answer, bars
        self.methods: dict[str, Callable] = {}
        self.models: dict[str, object] = {}
        self.retriever = None
        self.judge = None
        self.stopped: dict[str, str] = {}
        self.errors: list[str] = []
        self.judged: dict[str, int] = defaultdict(int)
        self.network_calls = 0
        self.semaphores = {p.name: threading.Semaphore(p.concurrency) for p in spec.providers}
        self._lock = threading.Lock()

    def _resource(self, kind: str, key: str, build: Callable):
        with self._lock:
            cache = getattr(self, kind)
            if key not in cache:
                cache[key] = build()
            return cache[key]

    def _shared(self, attr: str, build: Callable):
        with self._lock:
            if getattr(self, attr) is None:
                setattr(self, attr, build())
            return getattr(self, attr)

    def stop_provider(self, provider: ProviderSpec, reason: str) -> None:
        for method in self.spec.methods:
            self.stopped.setdefault(arm_name(provider, method), reason)

    def answer(self, provider: ProviderSpec, method: MethodSpec, question: Question) -> None:
        arm = arm_name(provider, method)
        if self.cancel.is_set() or arm in self.stopped:
            return
        with self.semaphores[provider.name]:
            if self.cancel.is_set() or arm in self.stopped:
                return
            method_callable = self._resource(
                "methods", method.arm_name, lambda: self.components.method(method)
            )
            calls, tokens = _estimate(provider, method, method_callable, 1)
            reason = self.budgets[provider.name].reserve(calls, tokens)
            if reason:
                self.stop_provider(provider, reason)
                return
            usage = None
            try:
                llm = self._resource(
                    "models",
                    provider.name,
                    lambda: self.components.chat_model(provider, self.base_urls.get(provider.name)),
                )
                retriever = None
                if needs_retriever(method, method_callable):
                    retriever = self._shared("retriever", lambda: self.components.retriever(self.spec))
                started = time.perf_counter()
                answer = method_callable(question, llm, retriever=retriever)
                latency = time.perf_counter() - started
                usage = answer.usage
            except Exception as error:  # one failed question must not sink the experiment
                if type(error).__name__ == "QuotaExhausted":
                    self.stop_provider(provider, f"quota: {error}")
                else:
                    self.errors.append(f"{arm} / {question.id}: {type(error).__name__}: {str(error)[:300]}")
                return
            finally:
                self.budgets[provider.name].settle(calls, tokens, usage)
        with self._lock:
            self.network_calls += usage.calls - usage.cached_calls
        self._record(provider, method, question, answer, latency)

    def _record(
        self, provider: ProviderSpec, method: MethodSpec, question: Question, answer, latency: float
    ) -> None:
        arm = arm_name(provider, method)
        judge = self.spec.judge
        verdict = judge_rules(question, answer, use_embeddings=judge.use_embeddings)
        llm_verdict = None
        if judge.provider != "rules":
            with self._lock:
                take = judge.sample is None or self.judged[arm] < judge.sample
                self.judged[arm] += take
            if take:
                try:
                    llm_verdict = judge_llm(
                        question, answer, self._shared("judge", lambda: self.components.judge_model(judge))
                    )
                except Exception as error:
                    self.errors.append(
                        f"{arm} / {question.id}: judge {type(error).__name__}: {str(error)[:300]}"
                    )
        record = AnswerRecord(
            arm=arm,
            provider=provider.name,
            method=method.arm_name,
            question=question,
            answer=answer,
            latency_s=latency,
            verdict=verdict,
            llm_verdict=llm_verdict,
        )
        self.store.append(record)
        if arm in self.bars:
            self.bars[arm].update(1)
        if self.on_answer is not None:
            self.on_answer(record)

    def run(self, work: list[tuple[ProviderSpec, MethodSpec, Question]]) -> None:
        with ThreadPoolExecutor(self.spec.concurrency, thread_name_prefix="tierlab-arm") as pool:
            futures = [pool.submit(self.answer, p, m, q) for p, m, q in work]
            for future in futures:
                future.result()


def _interleave(
    spec: ExperimentSpec, pending: dict[str, list[Question]]
) -> list[tuple[ProviderSpec, MethodSpec, Question]]:
    """Question-major order, so every arm progresses together and a cancel leaves comparable arms."""
    work = []
    longest = max((len(v) for v in pending.values()), default=0)
    for i in range(longest):
        for provider, method in spec.arms():
            questions = pending[arm_name(provider, method)]
            if i < len(questions):
                work.append((provider, method, questions[i]))
    return work


def _spent(records, spec: ExperimentSpec) -> dict[str, Usage]:
    spent: dict[str, Usage] = defaultdict(Usage)
    for record in records:
        spent[record.provider] = spent[record.provider] + record.answer.usage
    return spent


def run_arms(
    spec: ExperimentSpec,
    pending: dict[str, list[Question]],
    store: Store,
    *,
    components: Components,
    base_urls: dict[str, str | None],
    cancel: threading.Event,
    on_answer: OnAnswer | None = None,
    bars: dict | None = None,
    budget_share: float = 1.0,
) -> tuple[dict[str, str], list[str], int]:
    """Answer the pending questions of the spec's arms; returns (stop reasons, errors, network calls)."""
    spent = _spent(store.records().values(), spec)
    budgets = {
        p.name: BudgetTracker(p.budget, spent.get(p.name, Usage()), budget_share) for p in spec.providers
    }
    execution = _Execution(spec, components, store, base_urls, budgets, cancel, on_answer, bars or {})
    execution.run(_interleave(spec, pending))
    return execution.stopped, execution.errors, execution.network_calls


def _ray_arm(
    spec_json: str, arm: str, question_json: list[str], store_dir: str, base_urls: dict, share: float
):
    """A Ray task: one arm, writing to the same store (shared disk), returning its new records."""
    spec = ExperimentSpec.model_validate_json(spec_json)
    questions = [Question.model_validate_json(q) for q in question_json]
    only = next((p, m) for p, m in spec.arms() if arm_name(p, m) == arm)
    sub = spec.model_copy(update={"providers": (only[0],), "methods": (only[1],)})
    store = Store(Path(store_dir))
    before = set(store.records())
    stopped, errors, calls = run_arms(
        sub,
        {arm: questions},
        store,
        components=Components(),
        base_urls=base_urls,
        cancel=threading.Event(),
        budget_share=share,
    )
    new = [r.model_dump_json() for k, r in store.records().items() if k not in before and k[0] == arm]
    return new, stopped, errors, calls


def _start_local_ray(attempts: int = 3) -> str:
    """A private local Ray (localhost only, own temp dir); returns the temp dir to remove after shutdown.

    A busy 2-core machine can miss Ray's fixed startup deadline while the dashboard agent is still importing;
    a retry finds warm caches and succeeds (the same remedy serving/ uses).
    """
    import os
    import shutil
    import tempfile

    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private local Ray: no token to manage
    os.environ.setdefault("RAY_agent_register_timeout_ms", "120000")
    env = {k: v for k, v in os.environ.items() if k.startswith(("TIERLAB_", "HF_", "MLFLOW_", "RAY_AUTH"))}
    temp_dir = tempfile.mkdtemp(prefix="tlray")  # short: Ray's socket paths must stay under 108 bytes
    for attempt in range(1, attempts + 1):
        try:
            ray.init(
                address="local",
                _node_ip_address="127.0.0.1",
                num_cpus=2,
                include_dashboard=False,
                _temp_dir=temp_dir,
                log_to_driver=False,
                runtime_env={"env_vars": env},
            )
            return temp_dir
        except Exception as error:  # ray raises a bare Exception for a startup timeout
            if "timed out during startup" not in str(error) or attempt == attempts:
                ray.shutdown()
                shutil.rmtree(temp_dir, ignore_errors=True)
                raise
            ray.shutdown()
            time.sleep(2)
    return temp_dir


def _run_on_ray(spec, pending, store, ray_address, base_urls, cancel, on_answer, bars):
    """Each arm with pending questions as one Ray task; a local Ray started here is shut down afterwards."""
    import shutil

    import ray

    started = None
    if not ray.is_initialized():
        if ray_address == "local":
            started = _start_local_ray()
        else:
            ray.init(address=ray_address)
    try:
        return _ray_arms(spec, pending, store, base_urls, cancel, on_answer, bars)
    finally:
        if started:
            ray.shutdown()
            shutil.rmtree(started, ignore_errors=True)


def _ray_arms(spec, pending, store, base_urls, cancel, on_answer, bars):
    import ray

    task = ray.remote(num_cpus=0.5, max_retries=0)(_ray_arm)
    arms_per_provider = defaultdict(int)
    for provider, _ in spec.arms():
        arms_per_provider[provider.name] += 1
    refs = {}
    for provider, method in spec.arms():
        name = arm_name(provider, method)
        if pending[name]:
            refs[
                task.remote(
                    spec.model_dump_json(),
                    name,
                    [q.model_dump_json() for q in pending[name]],
                    str(store.directory),
                    base_urls,
                    1.0 / arms_per_provider[provider.name],
                )
            ] = name
    stopped, errors, calls = {}, [], 0
    known = set(store.records())
    remaining = list(refs)
    while remaining:
        if cancel.is_set():
            for ref in remaining:
                ray.cancel(ref)
            stopped.update({refs[r]: "cancelled" for r in remaining})
            break
        done, remaining = ray.wait(remaining, num_returns=1, timeout=0.5)
        for ref in done:
            new, arm_stopped, arm_errors, arm_calls = ray.get(ref)
            stopped.update(arm_stopped)
            errors += arm_errors
            calls += arm_calls
            for line in new:
                record = AnswerRecord.model_validate_json(line)
                if record.key not in known:  # the worker's disk is not ours (a remote cluster)
                    store.append(record)
                if refs[ref] in bars:
                    bars[refs[ref]].update(1)
                if on_answer is not None:
                    on_answer(record)
    return stopped, errors, calls


def run_experiment(
    spec: ExperimentSpec | str | Path,
    *,
    ray_address: str | None = None,
    progress: bool = True,
    cancel: threading.Event | None = None,
    on_answer: OnAnswer | None = None,
    track: bool = True,
    tracking_uri: str | None = None,
    components: Components | None = None,
    runs_root: Path | None = None,
) -> ExperimentResult:
    """Run (or continue, or replay) ``spec`` and return its results; logs to MLflow unless ``track=False``.

    ``cancel``: set it from another thread to stop cleanly (answers so far are kept and summarised).
    ``on_answer``: called with each new ``AnswerRecord`` as it is stored (live tables, progress widgets).
    ``ray_address``: run each arm as a Ray task (``"local"`` starts a private local Ray; or a cluster address).
    """
    spec = load_spec(spec) if isinstance(spec, str | Path) else spec
    components = components or Components()
    cancel = cancel or threading.Event()
    skipped = {p.name: why for p in spec.providers if p.optional and (why := components.unavailable(p))}
    if skipped:
        if len(skipped) == len(spec.providers):
            raise ValueError(
                f"every provider is unavailable: {skipped}; set an API key or add a non-optional provider."
            )
        spec = spec.model_copy(
            update={"providers": tuple(p for p in spec.providers if p.name not in skipped)}
        )
        if progress:
            print(
                "skipping optional providers: " + "; ".join(f"{k} ({v})" for k, v in skipped.items()),
                file=sys.stderr,
            )
    questions = components.questions(spec)
    if not questions:
        raise ValueError(
            f"dataset {spec.dataset!r} split {spec.split!r} gave no questions (kinds={spec.kinds}); "
            "check the dataset name, split and kinds in the spec."
        )
    store = Store(run_dir(spec.run_key(), runs_root))
    (store.directory / "spec.yaml").write_text(spec.to_yaml(), encoding="utf-8")
    stored = store.records()
    pending = {
        arm_name(p, m): [q for q in questions if (arm_name(p, m), q.id) not in stored] for p, m in spec.arms()
    }
    todo = any(pending.values())
    methods = {m.arm_name: components.method(m) if todo else None for m in spec.methods}
    estimates = preflight(spec, pending, methods, _spent(stored.values(), spec))
    if progress and todo:
        print(format_preflight(estimates), file=sys.stderr)

    stopped: dict[str, str] = {}
    errors: list[str] = []
    calls = 0
    if todo:
        from tqdm.auto import tqdm

        bars = {}
        for i, (provider, method) in enumerate(spec.arms()):
            name = arm_name(provider, method)
            bars[name] = tqdm(
                total=len(questions),
                initial=len(questions) - len(pending[name]),
                desc=name,
                position=i,
                leave=True,
                disable=not progress,
            )
        with contextlib.ExitStack() as stack:
            base_urls = {}
            for provider in spec.providers:
                busy = any(pending[arm_name(provider, m)] for m in spec.methods)
                if provider.emulate and busy:
                    base_urls[provider.name] = stack.enter_context(components.emulator(provider))
                else:
                    base_urls[provider.name] = provider.base_url
            if ray_address:
                stopped, errors, calls = _run_on_ray(
                    spec, pending, store, ray_address, base_urls, cancel, on_answer, bars
                )
            else:
                stopped, errors, calls = run_arms(
                    spec,
                    pending,
                    store,
                    components=components,
                    base_urls=base_urls,
                    cancel=cancel,
                    on_answer=on_answer,
                    bars=bars,
                )
        for bar in bars.values():
            bar.close()
    if cancel.is_set():
        for name, missing in pending.items():
            if missing:
                stopped.setdefault(name, "cancelled")

    result = summarize(spec, questions, store, stopped, errors, calls, estimates)
    result = result.model_copy(update={"skipped": skipped})
    if track:
        result = result.model_copy(update={"mlflow_run_id": _track(result, store, tracking_uri)})
    store.write_json(
        "result.json",
        {
            "run_key": result.run_key,
            "mlflow_run_id": result.mlflow_run_id,
            "summary": [a.model_dump(mode="json") for a in result.arms],
        },
    )
    return result


def _track(result: ExperimentResult, store: Store, tracking_uri: str | None) -> str:
    """Log to MLflow unless this exact content is already logged to the same store (a replay imports no mlflow)."""
    from toolkit import paths

    uri = tracking_uri or paths.mlflow_uri()
    marker = store.directory / "tracked.json"
    digest = result.digest()
    if marker.exists():
        seen = json.loads(marker.read_text(encoding="utf-8"))
        if seen.get("digest") == digest and seen.get("uri") == uri:
            return seen["run_id"]
    from toolkit import tracking

    run_id = tracking.log_experiment(result, tracking_uri=uri)
    store.write_json("tracked.json", {"digest": digest, "uri": uri, "run_id": run_id})
    return run_id


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
    stopped = stopped or {}
    records = store.records()
    by_arm: dict[str, list[AnswerRecord]] = {}
    arms = []
    for provider, method in spec.arms():
        name = arm_name(provider, method)
        rows = [records[(name, q.id)] for q in questions if (name, q.id) in records]
        by_arm[name] = rows
        arms.append(
            summarize_arm(spec, name, provider.name, method.arm_name, len(questions), rows, stopped.get(name))
        )
    ordered = tuple(r for rows in by_arm.values() for r in rows)
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
