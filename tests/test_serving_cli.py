"""``toolkit.serve`` refuses clearly before starting anything when the setup is wrong (no server needed)."""

from pathlib import Path

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
    assert serve.status(state_dir=tmp_path, port=8099) == {
        "running": False, "phase": "stopped", "state_dir": str(tmp_path), "processes": 0, "memory_mb": 0.0}
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


def test_ray_temp_dir_keeps_socket_paths_under_the_af_unix_limit(tmp_path):
    """A state dir under a long $TMPDIR (``TMPDIR=$(mktemp -d)`` in the pre-submit rehearsal) made ray.init fail:
    'AF_UNIX path length cannot exceed 107 bytes' for <temp>/session_<date>_<pid>/sockets/plasma_store."""
    from toolkit.serve import ray_temp_dir

    session = "session_2026-12-07_21-08-28_208007_19807/sockets/plasma_store"
    long_folder = tmp_path / ("x" * 60) / "tierlab-test-serve-abcdefgh"
    assert len(str(long_folder / "ray" / session)) > 107  # what Ray refused
    assert len(str(ray_temp_dir(long_folder) / session)) <= 107
    assert ray_temp_dir(long_folder) == ray_temp_dir(long_folder)  # the same server finds its dir again
    assert ray_temp_dir(Path("/root/.tierlab/serve/8000")) == Path("/root/.tierlab/serve/8000/ray")
