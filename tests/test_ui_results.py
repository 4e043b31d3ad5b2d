"""The results view's readability and its MLflow button: integer counts, readable dollars, cached answers marked,
and an MLflow UI started on 127.0.0.1 for the run's own store (a real ``mlflow server``; slow)."""

import httpx
import pytest
from test_ui import GoldServer, home, panel_for, small_spec  # noqa: F401 - fixtures

from toolkit.ui.html import count, money


@pytest.fixture
def server():
    gold = GoldServer()
    yield gold
    gold.close()


def test_counts_are_integers_and_dollars_readable():
    assert count(3.0) == "3" and count(12345.0) == "12,345" and count(None) == "–"
    assert money(0.0) == "$0" and money(1.254) == "$1.25" and money(0.00012345) == "$0.00012"
    assert money(0.0031) == "$0.0031" and money(None) == "–"


def test_paired_tests_read_too_few_to_test_rather_than_none():
    from toolkit.experiments.results import ExperimentResult
    from toolkit.experiments.spec import parse_spec
    from toolkit.metrics.stats import PairedTest

    tests = (PairedTest(metric="accuracy", arm_a="a", arm_b="b", n=2, diff=0.5, low=-0.5, high=1.0, test="McNemar"),
             PairedTest(metric="accuracy", arm_a="a", arm_b="c", n=20, diff=0.3, low=0.1, high=0.5, test="McNemar",
                        p_value=0.01, p_adjusted=0.02))
    spec = parse_spec("name: s\nproviders: [local/smollm2-135m-instruct]\nmethods: [closed_book]\n")
    result = ExperimentResult(spec=spec, run_key="s-1", run_dir="/tmp/s", arms=(), comparisons=tests, records=())
    frame = result.paired_frame(["accuracy"])
    assert list(frame["p"]) == ["too few to test (n < 10)", "0.010"] and list(frame["p (Holm)"])[1] == "0.020"
    assert frame.isna().sum().sum() == 0 and result.paired_frame(["token_f1"]).empty


def test_every_summary_column_is_explained_on_hover():
    import html
    import re

    from toolkit.metrics import metric_info
    from toolkit.ui.html import table
    from toolkit.ui.results import SUMMARY_HEADERS, summary_columns

    columns = summary_columns()
    assert set(columns) == set(SUMMARY_HEADERS) and all(len(text) > 20 for text in columns.values())
    assert columns["groundedness"].startswith(metric_info("groundedness").description)
    assert "per 1,000" in columns["$ per 1k questions"]
    rendered = table(SUMMARY_HEADERS, [], titles=columns)
    titles = [html.unescape(t) for t in re.findall(r"<th [^>]*title='([^']*)'", rendered)]
    assert titles == list(columns.values())  # every header carries its explanation


def test_answers_from_the_response_cache_are_marked(home, server):  # noqa: F811
    from toolkit.ui.results import summary_rows

    first = panel_for(small_spec(server.url, sample_size=2, methods=["closed_book"])).run(wait=True)
    assert not any(r.answer.cached for r in first.records)
    again = panel_for(small_spec(server.url, sample_size=2, methods=["closed_book"], name="ui-test-again"))
    result = again.run(wait=True)  # a new run key asks again: the endpoint's cache answers, no network call
    assert result.network_calls == 0 and all(r.answer.cached for r in result.records)
    row = summary_rows(result)[0]
    assert row[1] == "2/2 (2 cached)"
    assert "2 (0)" in row  # calls (network) as integers
    assert not any("µ" in cell or "e-" in cell for cell in row)  # dollars per 1,000 questions, readable
    assert "cached" in again.live.value


@pytest.mark.slow
def test_mlflow_button_starts_a_loopback_ui_for_the_runs_store(home, server, tmp_path):  # noqa: F811
    from toolkit.ui import mlflow_ui

    uri = f"sqlite:///{tmp_path / 'own-store.db'}"
    panel = panel_for(small_spec(server.url, sample_size=1, methods=["closed_book"]))
    panel.run_kwargs.update(track=True, tracking_uri=uri)
    result = panel.run(wait=True)
    button = panel.results_view.mlflow.button
    assert button.description == "Open in MLflow" and not button.disabled
    try:
        button.click()
        link = panel.results_view.mlflow.open(wait=True)  # the click works on a thread: join it
        assert f"/runs/{result.mlflow_run_id}" in link and "http://127.0.0.1:50" in link
        base = link.split("'")[1].split("/#/")[0]
        assert httpx.get(f"{base}/api/2.0/mlflow/runs/get", params={"run_id": result.mlflow_run_id}).status_code == 200
        server_proc, port = mlflow_ui._started[uri]
        assert mlflow_ui.server_for(result.mlflow_run_id, uri) == f"http://127.0.0.1:{port}"  # reused, not restarted
        assert len(mlflow_ui._started) == 1
    finally:
        mlflow_ui.stop_all()
    assert server_proc.poll() is not None


@pytest.mark.slow
def test_open_in_mlflow_reuses_a_server_already_serving_the_store(tmp_path, monkeypatch):
    """A server someone started for the store on a port of their own choosing is found by its command line and
    reused: the button starts no second server."""
    import os
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    from mlflow import MlflowClient

    from toolkit.ui import mlflow_ui

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    client = MlflowClient(tracking_uri=uri)
    run_id = client.create_run(client.create_experiment("reuse")).info.run_id
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # outside the ports the button tries
    assert port not in mlflow_ui.PORTS
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", uri, "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, stdout=log,
        stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while not mlflow_ui._knows_run(f"http://127.0.0.1:{port}", run_id):
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()[-2000:]
            time.sleep(0.5)
        assert mlflow_ui.serving_ports(uri) == [port]
        started = time.monotonic()
        url = mlflow_ui.open_url(run_id, uri)
        assert url.startswith(f"http://127.0.0.1:{port}/#/experiments/") and url.endswith(run_id)
        assert not mlflow_ui._started and time.monotonic() - started < 10  # nothing started, no 13 s wait
    finally:
        server.terminate()
        server.wait(30)
        log.close()
