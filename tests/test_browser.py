"""JupyterLab in headless Chromium: open the quickstart notebook, run all cells, click the panel's Run button and
check the rendered results. Debian's chromium is driven by Playwright through its executable path (never
`playwright install`). The screenshot is saved under test-artifacts/ for a human to look at."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nbformat
import pytest

from toolkit import paths

CHROMIUM = os.environ.get("TIERLAB_CHROMIUM", "/usr/bin/chromium")
PORTS = range(8850, 8900)
TOKEN = "tierlab-browser-test"
OVERRIDES = '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}'


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


@pytest.fixture
def jupyterlab(tmp_path, local_llm_url):
    """JupyterLab on 127.0.0.1 serving a copy of 01_quickstart with small parameters; stopped by its PID."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with `apt-get update && apt-get install -y chromium`")
    root, settings = tmp_path / "root", tmp_path / "lab-settings"
    root.mkdir()
    settings.mkdir()
    (settings / "overrides.json").write_text(OVERRIDES)
    nb = nbformat.read(paths.REPO_ROOT / "notebooks" / "01_quickstart.ipynb", as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells[index].source += (
        "\nsample_size = 1\nmethods = ['closed_book']\n"
        "providers = [{'id': 'local/smollm2-135m-instruct', 'params': {'temperature': 0, 'max_tokens': 32}}]\n"
        f"llm_url = {local_llm_url!r}\nrun_now = False"
    )
    nbformat.write(nb, root / "quickstart.ipynb")
    port = free_port()
    env = {
        **os.environ,
        "TIERLAB_HOME": str(tmp_path / "home"),
        "TIERLAB_LOCAL_URL": local_llm_url,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "user-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    log = (tmp_path / "lab.log").open("wb")
    lab = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}", f"--LabApp.app_settings_dir={settings}",
         "--allow-root"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert lab.poll() is None, f"jupyter lab exited: {(tmp_path / 'lab.log').read_text()[-2000:]}"
            try:
                if httpx.get(f"{base}/api/status", params={"token": TOKEN}, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "jupyter lab did not answer within 90 s"
            time.sleep(0.5)
        yield base
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        try:
            lab.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, signal.SIGKILL)
            lab.wait(10)
        log.close()
        shutil.copy(tmp_path / "lab.log", artifacts() / "browser-jupyterlab.log")


def artifacts() -> Path:
    path = paths.REPO_ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.mark.slow
def test_quickstart_panel_runs_in_jupyterlab(jupyterlab):
    from playwright.sync_api import sync_playwright

    shot = artifacts() / "browser-quickstart.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1500, "height": 1400})
        try:
            page.goto(f"{jupyterlab}/lab/tree/quickstart.ipynb?token={TOKEN}")
            page.wait_for_selector(".jp-Notebook", timeout=90_000)
            try:  # JupyterLab may ask which kernel to start
                page.click(".jp-Dialog button:has-text('Select')", timeout=5_000)
            except Exception:
                pass
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)
            page.click("li.lm-MenuBar-item:has-text('Run')")
            page.click("li[data-command='runmenu:run-all']")
            run = page.locator("button.jupyter-button:has-text('Run')")
            run.wait_for(timeout=120_000)
            assert run.count() == 1
            page.wait_for_function(
                "() => { const b = [...document.querySelectorAll('button.jupyter-button')]"
                ".find(b => b.textContent.trim() === 'Run'); return b && !b.disabled; }",
                timeout=120_000,
            )
            run.click()
            page.wait_for_selector("text=Finished:", timeout=600_000)
            page.wait_for_selector("text=Results: quickstart", timeout=120_000)
            page.locator("text=Results: quickstart").scroll_into_view_if_needed()
            page.screenshot(path=str(shot))
            text = page.inner_text(".jp-Notebook")
            page.click(".lm-TabBar-tab:has-text('Drill-down')")  # the per-question drill-down renders too
            page.wait_for_selector("text=Final answer:", timeout=30_000)
            page.locator("text=Final answer:").scroll_into_view_if_needed()
            page.screenshot(path=str(artifacts() / "browser-quickstart-drilldown.png"))
            drilldown = page.inner_text(".jp-Notebook")
        except Exception:
            page.screenshot(path=str(shot))
            raise
        finally:
            browser.close()
    assert "Finished: 1 answer in 1 arm" in text
    assert "local/smollm2-135m-instruct | closed_book" in text
    assert "up · smollm2-135m-instruct" in text  # the serving panel rendered the model's status
    assert "Summary" in text and "Drill-down" in text  # the results view's tabs
    assert "Which countries" in drilldown or "What" in drilldown or "?" in drilldown  # the question is shown
    assert "supported" in drilldown or "hallucinated" in drilldown
    assert shot.stat().st_size > 10_000
