"""The Experiment panel's run lifecycle without a browser: an awaitable run that keeps the event loop free (so
Cancel works while a cell awaits), keyless providers blocked before any call, and no state left over between runs.
The GoldServer (test_ui.py) answers every call and counts it, so "no call" and "cancelled" are observable."""

import asyncio
import threading

import pytest
from test_ui import GoldServer, home, panel_for, small_spec  # noqa: F401 - fixtures

from toolkit.experiments.spec import ExperimentSpec


@pytest.fixture
def server():
    gold = GoldServer()
    yield gold
    gold.close()


def test_awaiting_the_run_returns_its_result(home, server):  # noqa: F811
    panel = panel_for(small_spec(server.url, sample_size=2))

    async def cell():
        return await panel.run()

    result = asyncio.run(cell())
    assert len(result.records) == 4 and panel.result is result
    assert panel.results_view is not None and panel.results_view.result is result  # built on the loop's thread
    assert "Finished: 4 answers in 2 arms" in panel.status.value


def test_cancel_button_is_honoured_while_a_cell_awaits_the_run(home, server):  # noqa: F811
    """The event loop keeps running while the cell awaits: a click scheduled on it (as a widget message would be)
    cancels the run, and the await returns the answers kept so far."""
    server.gate = threading.Event()
    panel = panel_for(small_spec(server.url, sample_size=6, concurrency=1))

    async def cell():
        handle = panel.run()
        while not server.calls:
            await asyncio.sleep(0.05)
        asyncio.get_running_loop().call_soon(panel.cancel_button.click)
        asyncio.get_running_loop().call_later(0.3, server.gate.set)
        return await handle

    result = asyncio.run(asyncio.wait_for(cell(), 60))
    assert panel.state.status == "cancelled"
    assert 1 <= len(result.records) < 12
    assert "Cancelled:" in panel.status.value


def test_interrupting_the_await_cancels_the_run(home, server):  # noqa: F811
    """A kernel interrupt (or a cancelled task) while awaiting stops the run instead of leaving it going."""
    server.gate = threading.Event()
    panel = panel_for(small_spec(server.url, sample_size=6, concurrency=1))

    async def cell():
        task = asyncio.ensure_future(panel.run().wait())
        while not server.calls:
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        server.gate.set()

    asyncio.run(asyncio.wait_for(cell(), 60))
    panel.background.join(60)
    assert panel.state.status == "cancelled"


def test_blocking_wait_inside_an_event_loop_says_to_await(home, server):  # noqa: F811
    panel = panel_for(small_spec(server.url, sample_size=1))

    async def cell():
        panel.run(wait=True)

    with pytest.raises(RuntimeError, match="await panel.run"):
        asyncio.run(cell())
    assert panel.background is None and server.total() == 0


def test_keyless_provider_is_blocked_up_front_with_the_variable_and_signup_page(home, server, monkeypatch):  # noqa: F811
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    panel = panel_for(small_spec(server.url, sample_size=1))
    panel.providers.value = ("local/smollm2-135m-instruct", "groq/llama-3.1-8b-instant")
    assert panel.run() is None
    status = panel.status.value
    assert "cannot start" in status and "GROQ_API_KEY" in status
    assert "<a href='https://console.groq.com/keys'" in status
    assert "groq/llama-3.1-8b-instant~emulated" in status
    assert panel.background is None and server.total() == 0 and not panel.progress.children
    with pytest.raises(ValueError, match="GROQ_API_KEY"):
        panel.run(wait=True)

    monkeypatch.setenv("GROQ_API_KEY", "gsk-test-not-a-real-key")  # with the key set the same choice may start
    from toolkit.ui.run import missing_keys

    assert missing_keys(panel.spec) == []
    optional = ExperimentSpec.model_validate(
        small_spec(server.url).model_dump() | {"providers": [{"id": "groq/llama-3.1-8b-instant", "optional": True}]}
    )
    monkeypatch.delenv("GROQ_API_KEY")
    assert "GROQ_API_KEY" in missing_keys(optional)[0]  # optional, but no other provider is left: blocked too
    both = ExperimentSpec.model_validate(
        optional.model_dump() | {"providers": [*optional.model_dump()["providers"], {"id": "local/smollm2-135m-instruct"}]}
    )
    assert missing_keys(both) == []  # optional providers are skipped by the runner, not blocked


def test_progress_bars_and_results_do_not_pile_up_across_runs(home, server, monkeypatch):  # noqa: F811
    panel = panel_for(small_spec(server.url, sample_size=1))
    for _ in range(3):
        panel.run(wait=True)
    assert len(panel.progress.children) == 2  # one bar per arm, not one per arm per run
    assert len(panel.results.children) == 1

    panel.providers.value = ("groq/llama-3.1-8b-instant",)  # a failed start clears what the last run showed
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    assert panel.run() is None
    assert not panel.progress.children and not panel.results.children and panel.live.value == ""
    assert "cannot start" in panel.status.value


def test_planner_panel_renders_its_plot_as_an_image():
    """Under the Agg backend a displayed Figure prints as ``<Figure size …>``: the panel must carry the PNG."""
    from test_planner import _setup

    from toolkit.planner.workload import Workload
    from toolkit.ui.planner import PlannerPanel

    offers, measured = _setup()
    panel = PlannerPanel(Workload(daily_active_users=100, requests_per_user=5), offers, measured)
    assert panel.plot.value[:4] == b"\x89PNG" and len(panel.plot.value) > 5_000
    before = panel.plot.value
    panel.users.value = 1_000_000
    panel.update.click()
    assert panel.plot.value != before


def test_quiet_keeps_mlflow_info_out_of_cells(monkeypatch):
    import subprocess
    import sys

    monkeypatch.delenv("MLFLOW_LOGGING_LEVEL", raising=False)
    code = ("from toolkit import ui; ui.quiet(); import logging, mlflow, os; "
            "print(logging.getLogger('mlflow').getEffectiveLevel(), os.environ['MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(__import__("logging").WARNING), "false"]


def test_provider_search_filters_the_list_and_keeps_the_choice(home, server):  # noqa: F811
    panel = panel_for(small_spec(server.url, sample_size=1))
    chosen = panel.spec.providers[0].name
    panel.provider_search.value = "emulated groq"
    names = [name for _, name in panel.providers.options]
    assert chosen in names and all(n == chosen or ("groq" in n and n.endswith("~emulated")) for n in names)
    assert len(names) >= 2 and panel.spec.providers[0].name == chosen
    panel.provider_search.value = ""
    assert len(panel.providers.options) == len(panel._provider_options)


def test_run_history_lists_runs_of_this_spec_and_diffs_answers(home, server):  # noqa: F811
    panel = panel_for(small_spec(server.url, sample_size=2, methods=["closed_book"]))
    assert panel.history.runs == [] and panel.history.diff_button.disabled
    panel.run(wait=True)
    history = panel.history  # refreshed when the run finished: the run is listed and picked, not two empty pickers
    assert len(history.runs) == 1 and history.runs[0].folder in history.list.value
    assert history.run_a.value == history.run_b.value == history.runs[0].folder and history.diff_button.disabled
    panel.seed.value = 5  # another sample: another run of the same experiment
    panel.run(wait=True)
    runs = panel.history.refresh()
    assert len(runs) == 2 and not panel.history.diff_button.disabled
    assert (history.run_a.value, history.run_b.value) == (runs[1].folder, runs[0].folder)  # previous vs latest
    assert all(run.folder in history.list.value for run in runs)
    changes = panel.history.diff()
    assert any("not asked" in (c["outcome_a"], c["outcome_b"]) for c in changes)  # the samples differ
    assert "changed answer(s)" in panel.history.output.value
    panel.history.run_b.value = panel.history.run_a.value
    assert panel.history.diff() == [] and "same answers" in panel.history.output.value


def test_form_errors_are_in_the_panels_words(home, server):  # noqa: F811
    panel = panel_for(small_spec(server.url, sample_size=1))
    panel.providers.value = ()
    assert "providers: pick at least 1" in panel.spec_yaml.value and "List should" not in panel.spec_yaml.value
    panel.providers.value = ("local/smollm2-135m-instruct",)
    panel.form.base["concurrency"] = 0
    panel._on_change()
    assert "concurrency: must be ≥ 1, got 0" in panel.spec_yaml.value and panel.run_button.disabled
