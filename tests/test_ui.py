"""Notebook panels without a browser: set widget values, click buttons, assert on the spec and the results.

The experiment really runs (runner, store, provider client, methods, metrics) against a small deterministic
OpenAI-compatible server on 127.0.0.1 that answers the Factbook dev questions with their gold answers, so every
model call is observable; the real local model is exercised in test_ui_real.py (slow).
"""

import html
import json
import threading
import time

import pytest
from servers import ChatServer

from toolkit.datasets import load_dataset
from toolkit.experiments.spec import ExperimentSpec, SpecError, load_spec

GOLD = {q.question: q for q in load_dataset("factbook", "dev").questions}


class GoldServer(ChatServer):
    """Replies with the gold answer of the dev question in the prompt (``gate`` holds requests, see ChatServer)."""

    def reply(self, prompt: str) -> str:
        question = next((q for text, q in GOLD.items() if text in prompt), None)
        return ", ".join(question.answers[:3]) if question and question.answers else "I don't know"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)  # MLflow's SQLite store writes artifacts under ./mlruns
    return tmp_path / "home"


@pytest.fixture
def server():
    gold = GoldServer()
    yield gold
    gold.close()


def small_spec(url: str, **changes) -> ExperimentSpec:
    data = {
        "name": "ui-test",
        "dataset": "factbook",
        "split": "dev",
        "sample_size": 3,
        "seed": 0,
        "providers": [{"id": "local/smollm2-135m-instruct", "base_url": url, "params": {"temperature": 0, "max_tokens": 32}}],
        "methods": ["closed_book", {"name": "cove_joint", "options": {"max_verification_questions": 2}}],
        "judges": [{"name": "claims", "options": {"use_embeddings": False}}],
        "concurrency": 2,
        "bootstrap_resamples": 200,
    }
    data.update(changes)
    return ExperimentSpec.model_validate(data)


def panel_for(spec, **overrides):
    from toolkit.ui.experiment import ExperimentPanel

    return ExperimentPanel(spec, run_kwargs={"track": False}, **overrides)


def wait_until_finished(panel, timeout=120):
    panel.background.join(timeout)
    assert not panel.running, "the background run did not finish"
    return panel.state


# --- the form and the spec ---------------------------------------------------------------------------------------
def test_widgets_change_the_spec_and_its_yaml(home, server):
    panel = panel_for(small_spec(server.url))
    panel.sample_size.value = 5
    panel.seed.value = 7
    panel.split.value = "test"
    panel.methods.value = ("closed_book", "rag")
    panel.metrics.value = ("accuracy", "list_precision")
    panel.judge.value = "llm:groq/llama-3.1-8b-instant"
    spec = panel.spec
    assert (spec.sample_size, spec.seed, spec.split) == (5, 7, "test")
    assert [m.name for m in spec.methods] == ["closed_book", "rag"]
    assert spec.metrics == ("accuracy", "list_precision")
    assert [j.name for j in spec.judges] == ["claims", "llm:groq/llama-3.1-8b-instant"]
    assert spec.judges[0].options == {"use_embeddings": False}  # untouched settings survive the form
    assert spec.providers[0].base_url == server.url
    assert "sample_size: 5" in panel.spec_yaml.value and "seed: 7" in panel.spec_yaml.value
    panel.sample_size.value = 0  # the whole split
    assert panel.spec.sample_size is None


def test_method_options_from_the_spec_are_kept(home, server):
    panel = panel_for(small_spec(server.url))
    panel.methods.value = ("cove_joint",)
    assert panel.spec.methods[0].options == {"max_verification_questions": 2}


def test_providers_show_key_quota_and_emulated_status(home, server, monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    panel = panel_for(small_spec(server.url))
    labels = dict((value, label) for label, value in panel.providers.options)
    assert "key missing (GROQ_API_KEY)" in labels["groq/llama-3.1-8b-instant"]
    assert "14,400 req left today" in labels["groq/llama-3.1-8b-instant"]  # nothing used in a fresh home
    assert labels["groq/llama-3.1-8b-instant~emulated"].endswith("emulated")
    assert "self-hosted" in labels["local/smollm2-135m-instruct"]
    panel.providers.value = ("local/smollm2-135m-instruct", "groq/llama-3.1-8b-instant~emulated")
    emulated = panel.spec.providers[1]
    assert (emulated.id, emulated.emulate) == ("groq/llama-3.1-8b-instant", True)

    monkeypatch.setenv("GROQ_API_KEY", "gsk-test-not-a-real-key")
    labels = dict((v, label) for label, v in panel_for(small_spec(server.url)).providers.options)
    assert "key set (GROQ_API_KEY)" in labels["groq/llama-3.1-8b-instant"]
    assert "gsk-test" not in json.dumps(labels)


def test_the_judge_is_shown_with_how_good_it_is(home, server):
    panel = panel_for(small_spec(server.url))
    assert "real_answers_test: balanced accuracy" in panel.judge_note.value  # claims: its card on real answers
    panel.judge.value = "llm:groq/llama-3.1-8b-instant"  # never measured: said so, no figure
    assert "not yet measured on real answers" in panel.judge_note.value


def test_bad_settings_disable_run_and_say_why(home, server):
    panel = panel_for(small_spec(server.url))
    panel.providers.value = ()
    assert panel.run_button.disabled
    assert "providers" in panel.spec_yaml.value and "at least 1" in panel.spec_yaml.value
    with pytest.raises(SpecError, match="providers"):
        _ = panel.spec
    panel.providers.value = ("local/smollm2-135m-instruct",)
    assert not panel.run_button.disabled


def test_unknown_panel_setting_is_a_clear_error(home, server):
    with pytest.raises(TypeError, match="unknown panel setting 'samples'.*sample_size"):
        panel_for(small_spec(server.url), samples=3)


def test_example_spec_by_name_and_overrides(home):
    from toolkit.ui.experiment import ExperimentPanel, resolve_spec

    panel = ExperimentPanel("quickstart", sample_size=2, methods=["closed_book"],
                            providers=[{"id": "local/smollm2-135m-instruct", "base_url": "http://127.0.0.1:9/v1"}])
    assert panel.spec.name == "quickstart" and panel.spec.sample_size == 2
    assert [p.base_url for p in panel.spec.providers] == ["http://127.0.0.1:9/v1"]
    with pytest.raises(SpecError, match="quickstart"):
        resolve_spec("no-such-example")


def test_save_writes_a_spec_that_loads_back(home, server, tmp_path):
    panel = panel_for(small_spec(server.url))
    panel.sample_size.value = 2
    panel.save_path.value = str(tmp_path / "specs" / "mine.yaml")
    panel.save_button.click()
    saved = load_spec(tmp_path / "specs" / "mine.yaml")
    assert saved == panel.spec
    assert "saved spec" in panel.status.value


# --- running -----------------------------------------------------------------------------------------------------
def test_run_in_background_fills_progress_live_table_and_results(home, server):
    panel = panel_for(small_spec(server.url))
    panel.run_button.click()
    assert panel.background is not None  # click returned: the kernel thread is free while the run goes on
    state = wait_until_finished(panel)
    assert state.status == "done", state.error
    arms, rows, _ = state.snapshot()
    assert {a.arm: (a.done, a.total) for a in arms} == {
        "local/smollm2-135m-instruct | closed_book": (3, 3),
        "local/smollm2-135m-instruct | cove_joint": (3, 3),
    }
    assert len(rows) == 6
    bars = [box.children[0] for box in panel.progress.children]
    assert [(b.value, b.max) for b in bars] == [(3, 3), (3, 3)]
    assert "Finished: 6 answers in 2 arms" in panel.status.value
    assert "cove_joint" in panel.live.value
    assert not panel.run_button.disabled and panel.cancel_button.disabled

    result = state.result
    assert result.arms[0].metrics["accuracy"].value > 0  # the server answers with the gold answers
    view = panel.results.children[0]
    assert "Results: ui-test" in view.children[0].value
    summary = panel.results_view.summary.value
    assert "closed_book · local" in summary and "3/3" in summary
    assert "overflow-x:auto" in summary  # wider than the panel: it scrolls
    assert "claims-v" in panel.results_view.header.value  # the judge that really judged, by its version


def test_rerun_continues_without_repeating_calls(home, server):
    panel = panel_for(small_spec(server.url))
    first = panel.run(wait=True)
    calls = sum(server.calls.values())
    second = panel.run(wait=True)
    assert sum(server.calls.values()) == calls
    assert second.network_calls == 0
    assert [a.metrics["accuracy"] for a in second.arms] == [a.metrics["accuracy"] for a in first.arms]
    assert "0 new" in panel.status.value


def test_a_replayed_run_counts_its_stored_answers_in_the_progress_bars(home, server, monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    optional = {"id": "groq/llama-3.1-8b-instant", "optional": True}  # left out without a key, as in quickstart
    spec = small_spec(server.url)
    panel = panel_for(spec.model_copy(update={"providers": (*spec.providers, type(spec.providers[0])(**optional))}))
    panel.run(wait=True)
    panel.run(wait=True)  # a replay: every answer is stored, nothing is called
    bars = [box.children[0] for box in panel.progress.children]
    assert [(b.value, b.max) for b in bars] == [(3, 3), (3, 3)]
    assert all("3/3" in box.children[1].value for box in panel.progress.children)
    assert "Finished: 6 answers in 2 arms (0 new" in panel.status.value


def test_cancel_stops_cleanly_and_keeps_answers(home, server):
    server.gate = threading.Event()
    panel = panel_for(small_spec(server.url, sample_size=6, concurrency=1))
    panel.run()
    deadline = time.monotonic() + 30
    while not server.calls and time.monotonic() < deadline:
        time.sleep(0.05)
    assert panel.running and not panel.cancel_button.disabled
    panel.cancel_button.click()
    assert "cancelling" in panel.status.value
    server.gate.set()  # let the answer in flight finish
    state = wait_until_finished(panel)
    assert state.status == "cancelled"
    result = state.result
    answered = len(result.records)
    assert 1 <= answered < 12
    assert any(a.stopped == "cancelled" for a in result.arms)
    assert f"Cancelled: {answered} answer" in panel.status.value

    server.gate = None  # a rerun answers only what is missing
    before = sum(server.calls.values())
    rest = panel.run(wait=True)
    assert len(rest.records) == 12
    assert {r.question.id for r in rest.records if r.arm.endswith("closed_book")} == {
        r.question.id for r in rest.records if r.arm.endswith("cove_joint")
    }
    assert sum(server.calls.values()) > before
    assert all(count == 1 for count in server.calls.values())  # no prompt was sent twice


def test_failures_are_shown_not_swallowed(home):
    """An endpoint that is down stops the run before any question is asked, and the panel says which and how to
    fix it (it used to run every question into the same connection error)."""
    panel = panel_for(small_spec("http://127.0.0.1:9/v1", sample_size=1))  # nothing listens on port 9
    with pytest.raises(RuntimeError, match="not reachable"):
        panel.run(wait=True)
    assert panel.state.status == "failed" and "127.0.0.1:9" in panel.state.error
    arms, _, _ = panel.state.snapshot()
    assert all(a.done == 0 for a in arms)


# --- results view ------------------------------------------------------------------------------------------------
def test_results_view_drilldown_shows_cove_steps(home, server):
    from toolkit.ui.results import ResultsView, comparison_rows, drilldown, summary_rows

    panel = panel_for(small_spec(server.url))
    result = panel.run(wait=True)
    rows = summary_rows(result)
    assert [r[0] for r in rows] == ["closed_book · local", "cove_joint · local"]  # short labels: the table fits
    assert rows[0][2].count("[") == 1 and rows[0][2].endswith(" n=3")  # accuracy with its CI and n
    tests = comparison_rows(result.comparisons, "accuracy")
    assert tests and tests[0][0] == "accuracy" and tests[0][5] == "McNemar (exact)"
    assert tests[0][6] == tests[0][7] == "too few to test (n < 10)"  # 3 paired questions: no p-value

    view = ResultsView(result, plots=True)
    first = next(r for r in result.records if r.arm == view.arm.value)
    assert view.question.value == 0 and html.escape(first.question.question) in view.detail.value  # no click needed
    view.tabs.selected_index = 2  # the Plots tab makes its figures when opened
    images = view.plots.images.children
    assert len(images) == 2 and all(image.value[:4] == b"\x89PNG" for image in images)  # the PNGs, at once
    record = next(r for r in result.records if r.arm.endswith("cove_joint"))
    detail = drilldown(record)
    assert detail["baseline"] is not None and detail["final"] == record.answer.text
    shown = view.select(record.arm, record.question.id)
    assert "Baseline:" in shown and html.escape(record.question.question) in shown
    view.metric.value = "hallucination"
    assert "hallucination" in view.comparisons.value


def test_results_view_of_a_stored_run(home, server):
    from toolkit import ui

    result = panel_for(small_spec(server.url)).run(wait=True)
    view = ui.results_view(result.run_key)
    assert len(view.result.records) == len(result.records)


# --- compare (real MLflow, SQLite store under the temp home) ---------------------------------------------------
def test_compare_panel_shows_arms_side_by_side_with_paired_tests(home, server):
    from toolkit.experiments.runner import run_experiment
    from toolkit.tracking import mlflow_logger
    from toolkit.ui.compare import ComparePanel

    first = run_experiment(small_spec(server.url), progress=False, log=mlflow_logger())
    second = run_experiment(small_spec(server.url, methods=["closed_book"], description="again"), progress=False,
                            log=mlflow_logger())
    panel = ComparePanel("ui-test")
    assert {v for _, v in panel.runs_select.options} == {first.mlflow_run_id, second.mlflow_run_id}
    panel.runs_select.value = (first.mlflow_run_id, second.mlflow_run_id)
    panel.compare_button.click()
    assert len(panel.arms) == 3
    assert "3 arms from 2 run(s)" in panel.message.value
    assert "cove_joint" in panel.arms_html.value and "[" in panel.arms_html.value
    assert "p (Holm)" in panel.paired_html.value and "too few to test" in panel.paired_html.value
    assert panel.paired_html.value.count("<tr>") == 1 + 3  # header + every pair of the 3 arms
    panel.metric.value = "list_precision"
    assert "list_precision" in panel.paired_html.value or "no pair" in panel.paired_html.value


def test_compare_panel_without_runs_says_what_to_do(home):
    from toolkit.ui.compare import ComparePanel

    panel = ComparePanel("nothing-here")
    assert panel.runs_select.options == ()
    assert "no experiment runs" in panel.message.value
    panel.compare_button.click()
    assert "select one or more runs" in panel.message.value


# --- serving -----------------------------------------------------------------------------------------------------
def test_serving_panel_status_and_throughput(home, server):
    from toolkit.ui.serving import ServingPanel

    panel = ServingPanel(server.url)
    assert panel.state.up and panel.state.models == ["smollm2-135m-instruct"]
    assert "up · smollm2-135m-instruct" in panel.status.value
    assert panel.start_button.disabled and not panel.stop_button.disabled
    panel.measure_button.click()  # runs on the panel's thread: the click returns at once
    panel.thread.join(60)
    assert panel.state.tokens_per_s is not None and panel.state.tokens_per_s > 0
    assert "tok/s" in panel.status.value


def test_serving_panel_down_and_stop_touches_only_its_own_state_dir(home, tmp_path):
    from toolkit.ui.serving import ServingPanel

    panel = ServingPanel("http://127.0.0.1:9/v1", state_dir=tmp_path / "serve")
    assert not panel.state.up and "down" in panel.status.value
    assert not panel.start_button.disabled and panel.measure_button.disabled
    panel.stop_button.disabled = False  # as if it were up: Stop only asks
    panel.stop_button.click()
    assert panel.thread is None and panel.confirm.layout.display == "flex"
    panel.keep.click()
    assert panel.thread is None and panel.confirm.layout.display == "none"
    panel.stop_button.click()
    panel.confirm_stop.click()
    panel.thread.join(30)
    assert "nothing stopped" in panel.message.value
    from toolkit import serve

    log = serve.state_dir_for(9, tmp_path / "serve") / "server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("\n".join(f"line {i} <script>" for i in range(100)))
    panel.logs_button.click()
    assert "line 99 &lt;script&gt;" in panel.log_tail.value and "line 69 " not in panel.log_tail.value


@pytest.mark.slow
def test_serving_panel_on_the_real_local_model(local_llm_url):
    from toolkit.ui.serving import ServingPanel

    panel = ServingPanel(local_llm_url)
    assert panel.state.up and "smollm2-135m-instruct" in panel.state.models
    panel.measure_button.click()
    panel.thread.join(120)
    assert panel.state.message == "" and panel.state.tokens_per_s > 0
    assert "tok/s" in panel.status.value
