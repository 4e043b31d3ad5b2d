"""JupyterLab in headless Chromium on the quickstart notebook with the real local model: the default cell's
``await panel.run()`` cancelled from the panel's Cancel button, a Run from the panel cancelled too, a run to the end,
the results grid filtered to failures and exported, the interactive plot with its hover label, a re-judge with zero
arm calls, a keyless provider refused with its variable and sign-up page, and the planner's plot. Debian's chromium
is driven by Playwright through its executable path (never `playwright install`). Screenshots go to test-artifacts/.
"""

import contextlib
import os
import re
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
KEYLESS_CELL = """\
keyless = ui.experiment_panel(spec, providers=["groq/llama-3.1-8b-instant"], sample_size=1, methods=["closed_book"])
keyless.run()  # refused before any call
keyless.status"""
PLANNER_CELL = """\
from toolkit.planner.plan import Measured, Offer
from toolkit.planner.quota import QuotaLimits
from toolkit.planner.workload import Workload
from toolkit.ui.planner import PlannerPanel

offers = [Offer(provider="groq-8b", free=QuotaLimits(rpm=30, rpd=14400, tpm=6000, tpd=500000),
                price_in_per_m=0.05, price_out_per_m=0.08),
          Offer(provider="vllm-l4", third_party=False, gpu_hour_usd=0.805, gpu_tokens_per_s=1500, stream_tokens_per_s=60)]
measured = [Measured(provider=o.provider, accuracy=0.7, input_tokens_per_request=300, output_tokens_per_request=50,
                     latency_p95_s=1.0, run_ids=("r",)) for o in offers]
PlannerPanel(Workload(daily_active_users=100, requests_per_user=5), offers, measured)"""
OVERRIDES = '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}'


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


@contextlib.contextmanager
def lab_server(tmp_path: Path, root: Path, env_updates: dict[str, str | None], log_name: str = "browser-jupyterlab.log"):
    """JupyterLab on 127.0.0.1 serving ``root`` (news toasts off, own config dirs), stopped by its PID; yields its
    base URL. ``env_updates`` go to the server and its kernels (a value of None removes the variable)."""
    settings = tmp_path / "lab-settings"
    settings.mkdir()
    (settings / "overrides.json").write_text(OVERRIDES)
    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "user-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    for name, value in env_updates.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
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
        shutil.copy(tmp_path / "lab.log", artifacts() / log_name)


def open_notebook(page, base: str, name: str) -> None:
    """Open a notebook of the lab, pick the kernel if asked, and wait until the kernel is idle."""
    page.goto(f"{base}/lab/tree/{name}?token={TOKEN}")
    page.wait_for_selector(".jp-Notebook", timeout=90_000)
    try:  # JupyterLab may ask which kernel to start
        page.click(".jp-Dialog button:has-text('Select')", timeout=5_000)
    except Exception:
        pass
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)


def run_all(page) -> None:
    page.click("li.lm-MenuBar-item:has-text('Run')")
    page.click("li[data-command='runmenu:run-all']")


@pytest.fixture
def jupyterlab(tmp_path, local_llm_url):
    """JupyterLab on 127.0.0.1 serving a copy of 01_quickstart with small parameters; stopped by its PID."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with `apt-get update && apt-get install -y chromium`")
    root = tmp_path / "root"
    root.mkdir()
    nb = nbformat.read(paths.REPO_ROOT / "notebooks" / "01_quickstart.ipynb", as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells[index].source += (
        "\nsample_size = 10\nmethods = ['closed_book']\n"
        "providers = [{'id': 'local/smollm2-135m-instruct', 'params': {'temperature': 0, 'max_tokens': 48}}]\n"
        f"llm_url = {local_llm_url!r}\nrun_now = True"
    )
    nb.cells += [nbformat.v4.new_code_cell(KEYLESS_CELL), nbformat.v4.new_code_cell(PLANNER_CELL)]
    nbformat.write(nb, root / "quickstart.ipynb")
    env = {"TIERLAB_HOME": str(tmp_path / "home"), "TIERLAB_LOCAL_URL": local_llm_url, "MLFLOW_TRACKING_URI": None,
           "GROQ_API_KEY": None}  # the keyless cell must be refused
    with lab_server(tmp_path, root, env) as base:
        yield base, root


def artifacts() -> Path:
    path = paths.REPO_ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


STATUS = ".widget-html:has-text('Status:')"


def status_text(page) -> str:
    return page.locator(STATUS).first.inner_text()


def wait_status(page, *words: str, timeout: float = 300_000) -> str:
    """Wait until the experiment panel's status line contains every word."""
    page.wait_for_function(
        "([sel, words]) => { const s = [...document.querySelectorAll('.widget-html')]"
        ".find(e => e.textContent.includes('Status:')); return s && words.every(w => s.textContent.includes(w)); }",
        arg=[STATUS, list(words)], timeout=timeout,
    )
    return status_text(page)


def button(page, label: str):
    return page.locator(f"button.jupyter-button:text-is('{label}')").first


def click_when_enabled(page, label: str, timeout: float = 120_000) -> None:
    page.wait_for_function(
        "label => { const b = [...document.querySelectorAll('button.jupyter-button')]"
        ".find(b => b.textContent.trim() === label); return b && !b.disabled; }",
        arg=label, timeout=timeout,
    )
    button(page, label).click()


def shoot(page, name: str, anchor: str | None = None) -> Path:
    if anchor:
        page.locator(anchor).first.scroll_into_view_if_needed()
    path = artifacts() / f"browser-{name}.png"
    page.screenshot(path=str(path))
    return path


@pytest.mark.slow
def test_quickstart_panel_in_jupyterlab(jupyterlab):
    from playwright.sync_api import sync_playwright

    base, root = jupyterlab
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1500, "height": 1400})
        try:
            open_notebook(page, base, "quickstart.ipynb")
            run_all(page)

            # 1. the default cell awaits the run: Cancel in the panel is honoured while the cell waits
            wait_status(page, "running", timeout=180_000)
            page.wait_for_function("() => [...document.querySelectorAll('.widget-html')].some("
                                   "e => /running… [1-9]/.test(e.textContent))", timeout=180_000)
            click_when_enabled(page, "Cancel")
            first = wait_status(page, "Cancelled:")
            page.wait_for_selector(".jp-OutputArea-output table.dataframe", timeout=60_000)  # the awaiting cell went on
            shoot(page, "cancel-from-cell", STATUS)

            # 2. later cells ran: a keyless provider is refused with its variable and sign-up page; the planner plot
            page.wait_for_selector(".widget-html:has-text('cannot start')", timeout=120_000)
            keyless = page.locator(".widget-html:has-text('cannot start')").first.inner_text()
            page.wait_for_selector(".widget-image", timeout=120_000)
            planner_width = page.locator(".widget-image").first.evaluate("img => img.naturalWidth")
            shoot(page, "keyless-and-planner", ".widget-image")

            # 3. Run from the panel, Cancel again; then Run to the end (reruns continue, nothing asked twice)
            page.locator(STATUS).first.scroll_into_view_if_needed()
            click_when_enabled(page, "Run")
            wait_status(page, "running")
            click_when_enabled(page, "Cancel")
            second = wait_status(page, "Cancelled:")
            shoot(page, "cancel-from-panel", STATUS)
            click_when_enabled(page, "Run")
            finished = wait_status(page, "Finished:", timeout=600_000)
            page.wait_for_selector("text=Results: quickstart", timeout=120_000)
            shoot(page, "results", "text=Results: quickstart")
            summary = page.inner_text(".jp-Notebook")

            # 4. the grid, filtered to failures, exported
            page.click(".lm-TabBar-tab:has-text('Grid')")
            page.click("button.widget-toggle-button:has-text('failures only')")
            page.wait_for_selector("table.dataTable", timeout=30_000)
            click_when_enabled(page, "Export")
            page.wait_for_selector("text=exported:", timeout=60_000)
            shoot(page, "grid-failures", "table.dataTable")

            # 5. the interactive plot, with a hover label
            # the tab opens on the PNGs MLflow holds; "Interactive" swaps in the plotly widgets
            page.click(".lm-TabBar-tab:has-text('Plots')")
            click_when_enabled(page, "Interactive (hover, zoom)")
            page.wait_for_selector(".js-plotly-plot .scatterlayer .point", timeout=120_000)
            page.locator(".js-plotly-plot .scatterlayer .point").first.hover(force=True)
            page.wait_for_selector(".hoverlayer .hovertext", timeout=30_000)
            hover = page.locator(".hoverlayer .hovertext").first.text_content()  # SVG text
            shoot(page, "plot-hover", ".js-plotly-plot")

            # 6. re-judge with zero arm calls
            page.click(".lm-TabBar-tab:has-text('Re-judge')")
            click_when_enabled(page, "Re-judge")
            page.wait_for_selector("text=0 to the arms' models", timeout=180_000)
            rejudged = page.locator(".widget-html:has-text('Agreement of the two judges')").first.inner_text()
            shoot(page, "rejudge", "text=Agreement of the two judges")
        except Exception:
            shoot(page, "failure")
            raise
        finally:
            browser.close()
    done = [int(re.search(r"Cancelled: (\d+) answer", text).group(1)) for text in (first, second)]
    assert 1 <= done[0] <= done[1] < 10, (first, second)  # both cancels stopped the run before the end
    assert "Finished: 10 answers in 1 arm" in finished
    assert "local/smollm2-135m-instruct | closed_book" in summary and "up · smollm2-135m-instruct" in summary
    assert "GROQ_API_KEY" in keyless and "console.groq.com/keys" in keyless
    assert planner_width > 200
    exported = {p.name.split("-")[-1] for p in (root / "tierlab-exports").iterdir()}
    assert {"failures.csv", "answers.csv", "summary.csv"} <= exported
    assert "closed_book · local" in hover and "accuracy" in hover and "n=10" in hover  # short arm label, interval, n
    assert "κ" in rejudged and "(n=" in rejudged
