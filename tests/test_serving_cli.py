"""``toolkit.serve`` refuses clearly before starting anything when the setup is wrong (no server needed)."""

import pytest
from typer.testing import CliRunner

from serving.config import ProfileError
from toolkit import serve


def test_unprepared_model_says_how_to_prepare_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLAB_MODELS", str(tmp_path / "empty"))
    with pytest.raises(serve.ServeError, match="tierlab models prepare smollm2-135m-instruct"):
        serve.up(profile="cpu-smollm2", port=8099, state_dir=tmp_path / "state", progress=False)
    assert not (tmp_path / "state" / serve.STATE_FILE).exists()  # nothing was started


def test_unknown_profile(tmp_path):
    with pytest.raises(ProfileError, match="Did you mean 'cpu-smollm2'"):
        serve.up(profile="cpu-smollm", port=8099, state_dir=tmp_path, progress=False)


def test_status_down_and_logs_without_a_server(tmp_path):
    assert serve.status(state_dir=tmp_path, port=8099) == {"running": False, "state_dir": str(tmp_path)}
    assert serve.down(state_dir=tmp_path, port=8099) is False
    assert serve.logs(state_dir=tmp_path, port=8099) == ""


def test_cli_reports_errors_without_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLAB_MODELS", str(tmp_path / "empty"))
    result = CliRunner().invoke(serve.cli, ["up", "--port", "8099", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "error: model not prepared" in result.output and "Traceback" not in result.output


def test_up_on_a_busy_port_exits_2_and_starts_nothing(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(serve.cli, ["up", "--port", str(port), "--state-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert f"port {port} on 127.0.0.1 is in use" in result.output and "Traceback" not in result.output
    assert not (tmp_path / serve.STATE_FILE).exists()
