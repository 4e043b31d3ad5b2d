"""Run an experiment in a background thread so the notebook kernel stays responsive.

Why a thread and not asyncio: the runner's API is synchronous and must work inside Jupyter's already running
event loop; a plain thread needs no loop tricks (no asyncio.run, no nest_asyncio), and cancelling is just
setting the runner's ``cancel`` Event — it stops at the next question and keeps what was answered.
The handle is awaitable (``result = await panel.run()``): awaiting polls with ``asyncio.sleep`` so the kernel
keeps handling widget messages (the Cancel button works while a cell waits), and interrupting the kernel
(■) cancels the run instead of leaving it going in the background.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from toolkit.ui.state import RunState

Listener = Callable[[RunState], None]


class BackgroundRun:
    """One run of ``run(spec, progress=False, cancel=event, on_answer=...)`` on a daemon thread.

    ``to_row`` turns whatever the runner passes to ``on_answer`` into a flat dict with an ``arm`` key;
    ``listener`` is called after every answer and at the end (the panel refreshes its widgets there).
    """

    def __init__(
        self,
        spec: Any,
        *,
        run: Callable[..., Any],
        arms: dict[str, tuple[int, int]],
        to_row: Callable[..., dict[str, Any]],
        state: RunState | None = None,
        listener: Listener | None = None,
    ):
        self.spec = spec
        self.state = state or RunState()
        self.cancel_event = threading.Event()
        self._run = run
        self._arms = arms
        self._to_row = to_row
        self._listener = listener
        self._thread: threading.Thread | None = None

    def start(self) -> BackgroundRun:
        if self.running:
            raise RuntimeError("this experiment is already running; cancel it or wait for it to finish")
        self.state.start(self._arms)
        self._notify()
        self._thread = threading.Thread(target=self._main, name=f"tierlab-run-{getattr(self.spec, 'name', '')}", daemon=True)
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def cancel(self) -> None:
        """Ask the runner to stop after the answers in flight; they are kept."""
        if self.running:
            self.state.finish("cancelling")
            self.cancel_event.set()
            self._notify()

    def join(self, timeout: float | None = None) -> RunState:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.state

    def __await__(self):
        return self.wait().__await__()

    async def wait(self, poll_s: float = 0.2) -> Any:
        """The ``ExperimentResult`` once the run ends (cancelled runs return what was answered).

        Raises ``RuntimeError`` if the run failed. Interrupting the wait (kernel interrupt or task cancel)
        cancels the run, keeps the answers so far, and re-raises.
        """
        try:
            while self.running:
                await asyncio.sleep(poll_s)
        except (KeyboardInterrupt, asyncio.CancelledError):
            self.cancel()
            raise
        return self.outcome()

    def outcome(self) -> Any:
        """The finished run's result, or ``RuntimeError`` naming why it failed."""
        if self.state.status == "failed":
            raise RuntimeError(f"experiment failed: {self.state.error}")
        return self.state.result

    def _on_answer(self, *args: Any, **kwargs: Any) -> None:
        self.state.record(self._to_row(*args, **kwargs))
        self._notify()

    def _main(self) -> None:
        try:
            result = self._run(self.spec, progress=False, cancel=self.cancel_event, on_answer=self._on_answer)
        except BaseException as exc:  # noqa: BLE001 - shown in the panel instead of dying silently in a thread
            self.state.finish("failed", error=f"{type(exc).__name__}: {exc}")
        else:
            self.state.finish("cancelled" if self.cancel_event.is_set() else "done", result=result)
        self._notify()

    def _notify(self) -> None:
        if self._listener is not None:
            try:
                self._listener(self.state)
            except Exception:  # noqa: BLE001 - a broken view must not kill the run
                logging.getLogger(__name__).exception("panel refresh failed")


def plan_arms(spec: Any, components: Any = None, runs_root: Any = None) -> dict[str, tuple[int, int]]:
    """Arm name -> (questions planned, already stored) for the progress bars, before the run starts.

    Mirrors what the runner will do: optional providers without a key are left out, and answers stored by an
    earlier run of the same spec count as done (the runner resumes and does not call the model for them).
    """
    from toolkit.experiments.components import Components
    from toolkit.experiments.runner import arm_questions, available
    from toolkit.experiments.spec import arm_name
    from toolkit.experiments.store import Store, run_dir

    components = components or Components()
    spec, _ = available(spec, components)  # the spec that runs: its run key names the folder of stored answers
    questions = components.questions(spec)
    stored = Store(run_dir(spec.run_key(), runs_root)).records()
    plan = {}
    for provider, method in spec.arms():
        name = arm_name(provider, method)
        asked = arm_questions(spec, provider, method, questions)
        plan[name] = (len(asked), sum((name, q.id) in stored for q in asked))
    return plan


def answer_row(record: Any, metrics: Any = ("accuracy",)) -> dict[str, Any]:
    """One live-table row for an ``AnswerRecord`` (the same columns as the per-question MLflow table)."""
    from toolkit.experiments.results import question_row

    return question_row(record, metrics)


def missing_keys(spec: Any, components: Any = None) -> list[str]:
    """Why each required provider of ``spec`` cannot be called here, with the variable to set and where to get a
    key; empty when the run can start. Optional providers are left out by the runner instead, so listed only when
    no provider at all could be called.

    Why up front: a keyless provider otherwise "finishes" with 0 answers and a "retried on the next run" note.
    """
    from toolkit.experiments.components import Components
    from toolkit.providers import load_catalog

    components = components or Components()
    catalog = load_catalog()
    unavailable = {provider.name: components.unavailable(provider) for provider in spec.providers}
    nothing_left = all(unavailable.values())  # optional ones too: the run would have no arm at all
    problems = []
    for provider in spec.providers:
        why = unavailable[provider.name]
        if why is None or (provider.optional and not nothing_left):
            continue
        entry = catalog.entry(provider.id)
        text = f"{provider.name} needs an API key: {why}. Set it in a cell (os.environ[{entry.key_env!r}] = '…') " \
               f"or export it before starting Jupyter"
        if entry.signup_url:
            text += f"; get a key at {entry.signup_url}"
        if entry.kind in ("free", "trial"):
            text += f"; or pick '{provider.id}~emulated' to run against its emulated limits offline"
        problems.append(text + ".")
    return problems
