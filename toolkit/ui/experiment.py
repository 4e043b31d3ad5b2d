"""Experiment panel: set up a spec, see its YAML, save it, run it in the background, watch and cancel it.

A thin layer over ``ExperimentForm`` (state.py) and ``BackgroundRun`` (run.py): every widget change updates the
form, the form produces the spec, and Run hands the spec to ``run_experiment`` on a thread, so the kernel stays
free while progress bars and the live table fill in. Tests drive it by setting ``.value`` and calling ``.click()``.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import ipywidgets as w

from toolkit.examples import resolve_spec
from toolkit.experiments.spec import arm_labels
from toolkit.ui import choices
from toolkit.ui.history import HistorySection
from toolkit.ui.html import esc, fmt, table
from toolkit.ui.power import PowerSection
from toolkit.ui.run import BackgroundRun, answer_row, missing_keys, plan_arms
from toolkit.ui.state import ExperimentForm, RunState

LIVE_ROWS = 15
LIVE_HEADERS = ("arm", "question", "answer", "accuracy", "hallucination", "latency s", "cached")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def judge_note(name: str) -> str:
    """How good the chosen judge is, beside the dropdown: its accuracy on real answers labelled by people, or that it
    was not measured there yet."""
    from toolkit.judges import judge_card
    from toolkit.judges.card import card_text

    return f"<small style='color:#555'>{esc(card_text(judge_card(name)))}</small>"


class MissingKeys(ValueError):
    """Required providers without their API key: one line per provider with the variable and the sign-up page."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def _error_html(error: Exception) -> str:
    """An error for the status line; sign-up pages become links, multi-line messages a list."""
    lines = [esc(line) for line in str(error).splitlines() if line.strip()]
    lines = [re.sub(r"(https://[^\s;,]+[^\s;,.])", r"<a href='\1' target='_blank'>\1</a>", line) for line in lines]
    return lines[0] if len(lines) == 1 else "<ul>" + "".join(f"<li>{line}</li>" for line in lines) + "</ul>"


def _running_loop():
    """The event loop running on this thread (Jupyter's kernel loop), or None (scripts, tests)."""
    import asyncio

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class ExperimentPanel:
    """Dataset/split, sample size, seed, providers (key/quota/emulated), methods, metrics, judge → spec → run.

    ``overrides`` set form fields after loading the spec (e.g. ``sample_size=2, methods=["closed_book"]``);
    providers may also be given as spec mappings (``{"id": ..., "base_url": ...}``). ``run_kwargs`` go to
    ``run_experiment`` (``components``, ``runs_root``), except ``track`` (default True) and ``tracking_uri``,
    which choose the MLflow logger the panel passes as ``log``.
    """

    def __init__(self, spec: Any = None, *, run_kwargs: dict[str, Any] | None = None, **overrides: Any):
        from toolkit.experiments.spec import ProviderSpec, provider_entry

        base = resolve_spec(spec)
        self.form = ExperimentForm.from_spec(base, choices.provider_pool(base.providers))
        if "providers" in overrides:
            self.form.providers = []
            for raw in overrides.pop("providers"):
                entry = ProviderSpec.model_validate(provider_entry(raw) if isinstance(raw, str) else raw)
                if not isinstance(raw, str) or entry.name not in self.form.provider_pool:
                    self.form.provider_pool[entry.name] = entry.model_dump(mode="json", exclude_defaults=True) | {
                        "id": entry.id
                    }
                self.form.providers.append(entry.name)
        for key, value in overrides.items():
            if not hasattr(self.form, key) or key in ("base", "provider_pool", "method_pool"):
                raise TypeError(f"unknown panel setting {key!r}; settable: name, dataset, split, sample_size, seed, "
                                "providers, methods, metrics, judge")
            setattr(self.form, key, list(value) if isinstance(value, list | tuple) else value)
        self.run_kwargs = dict(run_kwargs or {})
        self.background: BackgroundRun | None = None
        self.state = RunState()
        self._lock = threading.RLock()
        self._build()
        self._refresh_spec()

    # --- widgets -------------------------------------------------------------------------------------------
    def _build(self) -> None:
        form = self.form
        statuses = choices.provider_statuses(form.provider_pool)
        chosen_first = form.providers + [n for n in form.provider_pool if n not in form.providers]
        self.name = w.Text(value=form.name, description="name")
        self.dataset = w.Text(value=form.dataset, description="dataset")
        self.split = w.Text(value=form.split, description="split")
        self.sample_size = w.BoundedIntText(value=form.sample_size or 0, min=0, max=1_000_000, description="sample size",
                                            tooltip="questions sampled per arm; 0 = the whole split")
        self.seed = w.IntText(value=form.seed, description="seed")
        self._provider_options = [(statuses[n].label, n) for n in chosen_first]
        self.providers = w.SelectMultiple(
            options=self._provider_options, value=tuple(form.providers),
            rows=8, description="providers", layout=w.Layout(width="95%"),
        )
        self.provider_search = w.Text(placeholder="search providers (id, 'key set', 'emulated', 'self-hosted' …)",
                                      description="find", layout=w.Layout(width="95%"))
        self.provider_search.observe(lambda _: self._filter_providers(), names="value")
        method_options = list(dict.fromkeys([*form.method_pool, *choices.method_names()]))
        self.methods = w.SelectMultiple(options=method_options, value=tuple(form.methods), rows=6, description="methods")
        self.metrics = w.SelectMultiple(
            options=list(dict.fromkeys([*choices.metric_names(), *form.metrics])), value=tuple(form.metrics),
            rows=6, description="metrics",
        )
        self.judge = w.Dropdown(options=list(dict.fromkeys([form.judge, *choices.judge_names()])), value=form.judge,
                                description="judge")
        self.judge_note = w.HTML(judge_note(form.judge))
        self.judge.observe(lambda change: setattr(self.judge_note, "value", judge_note(change["new"])), names="value")
        for widget in (self.name, self.dataset, self.split, self.sample_size, self.seed, self.providers, self.methods,
                       self.metrics, self.judge):
            widget.style = {"description_width": "90px"}
            widget.observe(self._on_change, names="value")

        self.spec_yaml = w.HTML()
        self.save_path = w.Text(value=f"{form.name}.yaml", description="save as")
        self.save_button = w.Button(description="Save spec", icon="save")
        self.save_button.on_click(lambda _: self.save())
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.cancel_button = w.Button(description="Cancel", button_style="warning", icon="stop", disabled=True)
        self.cluster = w.Text(value=self.run_kwargs.get("ray_address") or "", description="run on cluster",
                              placeholder="empty: this machine; ray://head:10001 or local",
                              tooltip="Ray address: each question becomes a Ray task, one quota per endpoint "
                                      "(README: Running on a Ray cluster)", style={"description_width": "100px"})
        self.run_button.on_click(lambda _: self.run())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.status = w.HTML("<b>Status:</b> ready")
        self.progress = w.VBox()
        self._bars: dict[str, w.IntProgress] = {}
        self._labels: dict[str, str] = {}
        self.live = w.HTML()
        self.results = w.VBox()
        self.results_view = None
        self._loop = None
        settings = w.VBox([self.name, w.HBox([self.dataset, self.split]), w.HBox([self.sample_size, self.seed]),
                           self.provider_search, self.providers, w.HBox([self.methods, self.metrics]),
                           w.HBox([self.judge, self.judge_note])])
        spec_box = w.VBox([self.spec_yaml, w.HBox([self.save_path, self.save_button])])
        self.power = PowerSection(lambda: self.spec, runs_root=self.run_kwargs.get("runs_root"))
        self.history = HistorySection(lambda: self.form.name, runs_root=self.run_kwargs.get("runs_root"))
        self.history.refresh()
        self.widget = w.VBox([
            w.HTML("<h3 style='margin:4px 0'>TierLab experiment</h3>"),
            w.HBox([settings, spec_box]),
            w.Accordion(children=[self.power.widget, self.history.widget],
                        titles=("Power: how many questions does this comparison need?", "Run history")),
            w.HBox([self.run_button, self.cancel_button, self.cluster]),
            self.status, self.progress, self.live, self.results,
        ])

    def _filter_providers(self) -> None:
        """Show the providers whose label contains every search word; chosen ones always stay visible."""
        words = self.provider_search.value.lower().split()
        chosen = list(self.form.providers)  # read first: changing the options may clear the selection
        self.providers.options = [(label, name) for label, name in self._provider_options
                                  if name in chosen or all(word in label.lower() for word in words)]
        self.providers.value = tuple(chosen)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def _on_change(self, _change=None) -> None:
        form = self.form
        form.name, form.dataset, form.split = self.name.value, self.dataset.value, self.split.value
        form.sample_size, form.seed = self.sample_size.value or None, self.seed.value
        form.providers, form.methods = list(self.providers.value), list(self.methods.value)
        form.metrics, form.judge = list(self.metrics.value), self.judge.value
        self._refresh_spec()

    def _refresh_spec(self) -> None:
        try:
            self.spec_yaml.value = f"<b>Spec</b><pre style='font-size:11px'>{esc(self.spec.to_yaml())}</pre>"
            self.run_button.disabled = False  # this run is over (its thread may still be unwinding)
        except ValueError as error:
            self.spec_yaml.value = f"<b>Spec</b><pre style='color:#b00'>{esc(error)}</pre>"
            self.run_button.disabled = True

    # --- actions -------------------------------------------------------------------------------------------
    @property
    def spec(self):
        """The validated spec the panel currently describes (raises ``SpecError`` on a bad choice)."""
        return self.form.to_spec()

    @property
    def running(self) -> bool:
        return self.background is not None and self.background.running

    def save(self, path: str | Path | None = None) -> Path:
        """Write the spec YAML (``tierlab run <path>`` runs the same experiment)."""
        target = Path(path or self.save_path.value).expanduser()
        try:
            text = self.spec.to_yaml()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except (ValueError, OSError) as error:
            self._status(f"<span style='color:#b00'>not saved: {esc(error)}</span>")
            raise
        self._status(f"saved spec to <code>{esc(target)}</code>")
        return target

    def run(self, wait: bool = False):
        """Start the experiment on a background thread and return its handle; ``await`` it for the result.

        ``result = await panel.run()`` keeps the kernel responsive while waiting, so the Cancel button (or a
        kernel interrupt) stops the run. ``wait=True`` blocks until the end and is meant for scripts: inside a
        notebook's running event loop it refuses, since a blocked kernel would ignore Cancel.
        """
        from toolkit.experiments.runner import run_experiment

        if self.running:
            self._status("already running: wait for it or press Cancel")
            return self.background
        if wait and _running_loop() is not None:
            raise RuntimeError("panel.run(wait=True) would block the kernel and ignore Cancel: "
                               "use `result = await panel.run()` in a notebook cell")
        self._clear()
        self._loop = _running_loop()
        try:
            spec = self.spec
            components = self.run_kwargs.get("components")
            blocked = missing_keys(spec, components)
            if blocked:
                raise MissingKeys(blocked)
            arms = plan_arms(spec, components, self.run_kwargs.get("runs_root"))
            self._labels = arm_labels(spec)
        except Exception as error:  # noqa: BLE001 - bad settings are shown, not raised into a callback
            self._status(f"<span style='color:#b00'>cannot start: {_error_html(error)}</span>")
            if wait:
                raise
            return None
        self.state = RunState()
        self.background = BackgroundRun(
            spec,
            run=lambda s, **kw: run_experiment(s, **kw, **self._run_options()),
            arms=arms,
            to_row=lambda record: answer_row(record, spec.metrics),
            state=self.state,
            listener=lambda _state: self._render(),
        )
        self.background.start()
        if not wait:
            return self.background
        self.background.join()
        return self.background.outcome()

    @property
    def result(self):
        """The last finished run's ``ExperimentResult`` (None before one finished)."""
        return self.state.result

    def _run_options(self) -> dict[str, Any]:
        """``run_kwargs`` plus the "run on cluster" address (empty: threads on this machine) and the logger."""
        from toolkit.tracking import mlflow_logger

        options = {k: v for k, v in self.run_kwargs.items() if k not in ("track", "tracking_uri")}
        log = mlflow_logger(self.run_kwargs.get("tracking_uri")) if self.run_kwargs.get("track", True) else None
        return options | {"ray_address": self.cluster.value.strip() or None, "log": log}

    def cancel(self) -> None:
        """Stop after the questions in flight; what was answered is kept (and a rerun continues from there)."""
        if self.background is not None:
            self.background.cancel()

    # --- view ----------------------------------------------------------------------------------------------
    def _clear(self) -> None:
        """Forget the previous run's bars, live rows, results and status (a failed start must not show them)."""
        with self._lock:
            self._bars: dict[str, w.IntProgress] = {}
            self.progress.children = ()
            self.live.value = ""
            self.results.children = ()
            self.results_view = None
            self._status("starting…")

    def _status(self, html_text: str) -> None:
        self.status.value = f"<b>Status:</b> {html_text}"

    def _render(self) -> None:
        with self._lock:
            arms, rows, status = self.state.snapshot()
            for arm in arms:
                bar = self._bars.get(arm.arm)
                if bar is None:
                    bar = self._bars[arm.arm] = w.IntProgress(min=0, description="", layout=w.Layout(width="300px"))
                    bar.label = w.HTML()
                    self.progress.children = [*self.progress.children, w.HBox([bar, bar.label])]
                bar.max, bar.value = max(arm.total, 1), arm.done
                bar.bar_style = "danger" if arm.errors else ("success" if arm.done >= arm.total else "info")
                label = self._labels.get(arm.arm, arm.arm)
                bar.label.value = f"{esc(label)}: {arm.done}/{arm.total}" + (f" ({arm.errors} errors)" if arm.errors else "")
            self.live.value = table(LIVE_HEADERS, [
                [r["arm"], r["question_id"], str(r["answer"])[:80], fmt(r.get("accuracy")), fmt(r.get("hallucination")),
                 fmt(r.get("latency_s")), "cached" if r.get("cached") else ""]
                for r in rows[-LIVE_ROWS:]
            ]) if rows else ""
            finished = status in ("done", "cancelled") and self.state.result is not None
            running = status in ("running", "cancelling")
            self.run_button.disabled = running or finished  # enabled again once the results view is built
            self.cancel_button.disabled = not running or status == "cancelling"
            self._status(self._status_text(status, len(rows)))
        if finished:
            self._on_kernel_thread(self._show_results, self.state.result)

    def _on_kernel_thread(self, action, *args) -> None:
        """Run ``action`` on the kernel's own thread (its event loop) when there is one, else here.

        Why: building the results view makes new widgets; done on the runner's thread while the kernel thread
        handles the next click (Run), the two deadlocked in JupyterLab. The loop is the one ``run`` was called on.
        """
        loop = self._loop
        if loop is not None and loop.is_running() and threading.current_thread() is not threading.main_thread():
            loop.call_soon_threadsafe(action, *args)
        else:
            action(*args)

    def _show_results(self, result) -> None:
        from toolkit.ui.results import ResultsView

        if result is not self.state.result or self.results.children:
            return  # a newer run started, or already shown
        try:
            self.history.refresh()
            self.results_view = ResultsView(result, tracking_uri=self.run_kwargs.get("tracking_uri"))
            self.results.children = [self.results_view.widget]
        except Exception as error:  # noqa: BLE001 - keep the live table even if the view fails
            self.results.children = [w.HTML(f"<span style='color:#b00'>results view failed: {esc(error)}</span>")]
        finally:
            self.run_button.disabled = False  # this run is over (its thread may still be unwinding)

    def _status_text(self, status: str, answered: int) -> str:
        if status == "running":
            return f"running… {answered} new answers"
        if status == "cancelling":
            return f"cancelling after the answers in flight… {answered} new answers"
        if status == "failed":
            return f"<span style='color:#b00'>failed: {esc(self.state.error)}</span>"
        if status in ("done", "cancelled"):
            result = self.state.result
            total = len(result.records) if result is not None else answered
            word = "Finished" if status == "done" else "Cancelled"
            arms = len(result.arms) if result else 0
            return (f"{word}: {_plural(total, 'answer')} in {_plural(arms, 'arm')} "
                    f"({answered} new, {result.network_calls if result else 0} network calls)")
        return status
