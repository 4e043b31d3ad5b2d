"""The review pane in JupyterLab and the MLflow UI, both in headless Chromium, on one run logged to a real
``mlflow server`` (conftest; emulated free tier with the echo backend, no model needed):

1. in the notebook, a reviewer types keys into the pane (left arm correct, right arm hallucinated) and clicks a mark
   button; the marks are HUMAN assessments on the answers' traces, visible in the MLflow UI's Assess pane;
2. in the MLflow UI, the reviewer adds human feedback to another answer's trace (Assess -> Add feedback -> Human
   feedback); Sync with MLflow in the notebook reads it back and the pane shows it.

Screenshots go to test-artifacts/ (browser-review-*.png)."""

from pathlib import Path

import nbformat
import pytest
from test_browser import CHROMIUM, artifacts, lab_server, open_notebook, run_all

pytestmark = pytest.mark.slow
PANE_CELL = """\
from toolkit import ui

pane = ui.review_pane({run!r}, reviewer="browser-reviewer")
pane"""
KEYS = "input[placeholder='click here, then type keys']"


def _human(trace_id: str, uri: str) -> dict[str, tuple]:
    import mlflow

    mlflow.set_tracking_uri(uri)
    return {a.name: (a.value, a.source.source_id) for a in mlflow.get_trace(trace_id).info.assessments
            if a.source.source_type == "HUMAN"}


def _add_feedback_in_mlflow_ui(page, url: str, name: str, value: str) -> None:
    """What a reviewer does on a trace: Assess -> Add feedback -> Human feedback, a string value, Create."""
    page.goto(url)
    page.wait_for_selector("button:has-text('Assess')", timeout=90_000)
    page.locator("button:has-text('Assess')").first.click()
    page.locator("button:has-text('Add feedback')").first.click()
    page.get_by_text("Human feedback", exact=True).click()
    page.locator("[data-component-id='shared.model-trace-explorer.assessment-name-typeahead.input']").fill(name)
    page.keyboard.press("Enter")
    page.locator("[data-component-id='shared.model-trace-explorer.assessment-data-type-select']").click()
    page.locator("div[role=option]:has-text('String')").first.click()
    page.locator("[data-component-id='shared.model-trace-explorer.assessment-value-string-input']").fill(value)
    page.locator("button:has-text('Create')").first.click()


def test_marks_go_from_the_notebook_to_mlflow_and_back(mlflow_server, tmp_path, monkeypatch):
    from mlflow import MlflowClient
    from playwright.sync_api import expect, sync_playwright
    from review_run import log_review_run

    from toolkit.review import Review
    from toolkit.tracking import human

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with `apt-get update && apt-get install -y chromium`")
    home = tmp_path / "home"
    result = log_review_run(mlflow_server, monkeypatch, home, name="review-pane-browser")
    review = Review(result)
    left, right = review.arms
    first, second = review.questions(review.arms)[:2]
    traces = human.answer_traces(result.mlflow_run_id, tracking_uri=mlflow_server)
    experiment_id = MlflowClient(mlflow_server).get_run(result.mlflow_run_id).info.experiment_id
    trace_url = f"{mlflow_server}/#/experiments/{experiment_id}/traces?selectedEvaluationId="
    root = tmp_path / "root"
    root.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PANE_CELL.format(run=result.run_key))]),
                   root / "review.ipynb")
    with lab_server(tmp_path, root, {"TIERLAB_HOME": str(home), "MLFLOW_TRACKING_URI": None},
                    log_name="browser-jupyterlab-review.log") as base, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        lab = browser.new_page(viewport={"width": 1500, "height": 1300})
        ui = browser.new_page(viewport={"width": 1500, "height": 1000})
        try:
            # 1. marks in the notebook: keys for both arms, then a button; then they are on the traces in MLflow
            open_notebook(lab, base, "review.ipynb")
            run_all(lab)
            lab.wait_for_selector("text=question 1 of 3", timeout=180_000)
            lab.locator(KEYS).first.click()
            lab.keyboard.type("cH")  # left arm correct, right arm hallucinated
            lab.wait_for_selector("text=hallucinated stored and written to MLflow", timeout=60_000)
            lab.locator("button.jupyter-button:text-is('Supported')").first.click()  # left arm supported
            lab.wait_for_selector("text=supported stored and written to MLflow", timeout=60_000)
            lab.screenshot(path=str(artifacts() / "browser-review-pane.png"))
            assert _human(traces[(left, first)].info.trace_id, mlflow_server) == {
                "correct": (True, "browser-reviewer"), "hallucination": ("supported", "browser-reviewer")}
            assert _human(traces[(right, first)].info.trace_id, mlflow_server) == {
                "hallucination": ("hallucinated", "browser-reviewer")}
            ui.goto(trace_url + traces[(right, first)].info.trace_id)
            ui.wait_for_selector("button:has-text('Assess')", timeout=90_000)
            ui.locator("button:has-text('Assess')").first.click()
            expect(ui.get_by_text("hallucination", exact=True).first).to_be_visible(timeout=30_000)
            ui.screenshot(path=str(artifacts() / "browser-review-mlflow-human.png"))

            # 2. feedback added in the MLflow UI on the left arm's second answer, read back by Sync in the notebook
            _add_feedback_in_mlflow_ui(ui, trace_url + traces[(left, second)].info.trace_id, "hallucination",
                                       "abstained")
            ui.wait_for_timeout(1_000)
            ui.screenshot(path=str(artifacts() / "browser-review-mlflow-feedback.png"))
            lab.locator("button.jupyter-button:has-text('Sync with MLflow')").first.click()
            lab.wait_for_selector("text=1 read back from the MLflow UI", timeout=60_000)
            lab.locator("button.jupyter-button:has-text('Next')").first.click()
            lab.wait_for_selector("text=question 2 of 3", timeout=30_000)
            lab.wait_for_selector("text=abstained (User, mlflow)", timeout=30_000)
            lab.screenshot(path=str(artifacts() / "browser-review-synced.png"))
        except Exception:
            lab.screenshot(path=str(artifacts() / "browser-review-failure-lab.png"))
            ui.screenshot(path=str(artifacts() / "browser-review-failure-mlflow.png"))
            raise
        finally:
            browser.close()
    standing = Review(result).marks.current()
    assert standing[(left, second)].hallucination == "abstained" and standing[(left, second)].source == "mlflow"
