"""The MLflow UI in headless Chromium on a finished TierLab run, as a reviewer sees it: the experiment's runs table
shows the dataset and the arm runs by method and provider; the traces list shows tokens and the verdicts as columns;
the compare page shows what answered each arm.

Real ``mlflow server`` on 127.0.0.1 (conftest), real emulator (echo backend); Debian's chromium driven by Playwright
through its executable path. Screenshots go to test-artifacts/ for a human to look at."""

import json
import os
from pathlib import Path

import pytest

from toolkit import paths

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("TIERLAB_CHROMIUM", "/usr/bin/chromium")
ARMS = ("closed_book · groq~emu", "cove_joint · groq~emu")


def artifacts() -> Path:
    path = paths.REPO_ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


def _close_assistant(page) -> None:
    """MLflow 3.17 opens its Assistant side panel on first visit; it hides half the page."""
    close = page.locator("[data-component-id='mlflow.assistant.chat_panel.close']")
    if close.count():
        close.first.click()


def test_mlflow_ui_shows_the_dataset_and_the_arms_by_method(mlflow_server, tmp_path, monkeypatch):
    from mlflow import MlflowClient
    from playwright.sync_api import expect, sync_playwright
    from review_run import log_review_run

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with `apt-get update && apt-get install -y chromium`")
    result = log_review_run(mlflow_server, monkeypatch, tmp_path / "home", name="review-e2e-browser")
    client = MlflowClient(tracking_uri=mlflow_server)
    parent = client.get_run(result.mlflow_run_id)
    experiment_id = parent.info.experiment_id
    arms = client.search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    shot = artifacts() / "browser-mlflow-runs.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1500, "height": 900})
        try:
            # the runs table: the dataset input (name + digest) and, under the parent, the arms by method first
            page.goto(f"{mlflow_server}/#/experiments/{experiment_id}/runs")
            page.wait_for_selector("text=Training runs", timeout=90_000)
            _close_assistant(page)
            page.locator("div[role='gridcell'] button").first.click()  # expand the parent run's children
            for name in ARMS:
                expect(page.get_by_text(name, exact=True)).to_be_visible(timeout=30_000)
            digest = parent.inputs.dataset_inputs[0].dataset.digest
            expect(page.get_by_text(f"factbook-dev ({digest})").first).to_be_visible()
            page.screenshot(path=str(shot))

            # the traces list: one trace per answer with its token count and the verdicts as assessment columns
            page.goto(f"{mlflow_server}/#/experiments/{experiment_id}/traces")
            page.wait_for_selector("text=Tokens", timeout=60_000)
            expect(page.get_by_text("What is the", exact=False).first).to_be_visible(timeout=30_000)
            got_it = page.get_by_role("button", name="Got it")  # a one-time feature tip covers the columns
            if got_it.count():
                got_it.first.click()
            traces = page.inner_text("body")
            page.screenshot(path=str(artifacts() / "browser-mlflow-traces.png"))

            # the compare page puts what produced each arm side by side (endpoint, backend model, max_tokens)
            ids = json.dumps([r.info.run_id for r in arms])
            page.goto(f"{mlflow_server}/#/compare-runs?runs={ids}&experiments=[\"{experiment_id}\"]")
            page.wait_for_selector("text=Run details", timeout=60_000)
            details = page.inner_text("body")
            page.screenshot(path=str(artifacts() / "browser-mlflow-compare.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(shot))
            raise
        finally:
            browser.close()
    for name in ARMS:
        assert name in details
    header = traces[traces.index("Tokens"):][:200]
    assert "correct" in header and "supported" in header, header
    assert "answered_by" in details and "echo (built-in test backend)" in details
    assert "generation.max_tokens" in details and "cost/total_usd_per_1k_questions" in details


def test_assessments_read_true_as_good_in_the_mlflow_ui(mlflow_server, tmp_path, monkeypatch):
    """A hallucinated, wrong answer (the echo backend's) shows ``supported`` and ``correct`` as a red ✗ False in
    the trace's Assessments pane — not a green ✓ True under a name that means the opposite."""
    from mlflow import MlflowClient
    from playwright.sync_api import sync_playwright
    from review_run import log_review_run

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with `apt-get update && apt-get install -y chromium`")
    result = log_review_run(mlflow_server, monkeypatch, tmp_path / "home", name="review-e2e-polarity")

    experiment_id = MlflowClient(tracking_uri=mlflow_server).get_run(result.mlflow_run_id).info.experiment_id
    question = result.records[0].question.question
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                                     "--disable-dev-shm-usage", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1500, "height": 950})
        try:
            page.goto(f"{mlflow_server}/#/experiments/{experiment_id}/traces")
            page.wait_for_selector("text=Tokens", timeout=90_000)
            for dismiss in ("mlflow.detect_issues.guidance.dismiss", "mlflow.assistant.chat_panel.close"):
                button = page.locator(f"[data-component-id='{dismiss}']")
                if button.count():
                    button.first.click(force=True)
            page.get_by_text(question[:30], exact=False).first.click()
            page.get_by_role("button", name="Assess").first.click(timeout=60_000)
            pane = page.locator("text=Feedback (").first.locator("xpath=ancestor::div[2]")
            pane.get_by_text("supported", exact=True).wait_for(timeout=30_000)
            text = pane.inner_text()
            colours = [chip.evaluate("e => getComputedStyle(e).color")
                       for chip in pane.get_by_text("False", exact=True).all()]
            page.screenshot(path=str(artifacts() / "browser-mlflow-assessments.png"))
        finally:
            browser.close()
    assert "supported\nFalse" in text and "correct\nFalse" in text, text
    assert "hallucinated" not in text and "True" not in text
    assert len(colours) == 2
    for colour in colours:  # the danger colour of a failed check, e.g. rgb(100, 23, 43)
        red, green, _ = (int(v) for v in colour.removeprefix("rgb(").rstrip(")").split(",")[:3])
        assert red > 2 * green, colour
