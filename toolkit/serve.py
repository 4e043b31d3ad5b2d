"""Run a self-hosted model server (vLLM on Ray Serve, or llama.cpp on CPU) on this machine, detached from the caller.

``up`` starts ``python -m serving.app`` in its own process group (a private Ray head plus the Serve app), so it
outlives a CLI call or a notebook kernel, records its PID in a state dir and waits until ``/v1/models`` answers.
A second ``up`` reuses a healthy server; ``down`` stops only the process group it recorded. ``engine="llamacpp"``
runs llama.cpp's ``llama-server`` on the profile's packaged GGUF instead (``serving/llamacpp.py``), with the same
lifecycle, key and loopback-only binding. Everything binds
127.0.0.1, Ray runs with token auth (``toolkit.security``), and the OpenAI endpoint wants
``Authorization: Bearer <key>`` with the key from ``$TIERLAB_SERVE_API_KEY`` or ``$TIERLAB_HOME/secrets/serve_api_key``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import typer
from pydantic import BaseModel, ConfigDict

from serving.app import SERVER_ENV, descendants
from toolkit import local_models, paths, processes, security

STATE_FILE = "server.json"
MAX_RAY_TEMP_CHARS = 40
"""Longest Ray temp dir whose session socket paths still fit AF_UNIX's 108 bytes."""
LOG_FILE = "server.log"
DEFAULT_PROFILE = "cpu-smollm2"
DEFAULT_PORT = 8000
ENGINES = ("vllm", "llamacpp")
_EXIT_CODES: dict[int, int] = {}
"""Exit codes of server processes ``_alive`` reaped (negative: killed by that signal)."""


class ServeError(RuntimeError):
    """The server cannot be started or reached; the message says why and what to do."""

    exit_code: int | None = None
    """How the server process ended, when it died during start-up (negative: the signal that killed it)."""


class PortBusy(ServeError):
    """The port is taken by a program this state dir did not start (bad input: ``serve up`` exits 2)."""


class ServeHandle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str
    pid: int
    state_dir: Path
    profile: str
    model_id: str


def state_dir_for(port: int = DEFAULT_PORT, state_dir: str | Path | None = None) -> Path:
    """Where a server's PID file, log and Ray temp dir live (default ``$TIERLAB_HOME/serve/<port>``)."""
    path = Path(state_dir) if state_dir is not None else paths.subdir("serve") / str(port)
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def up(
    profile: str = DEFAULT_PROFILE,
    port: int | None = None,
    state_dir: str | Path | None = None,
    *,
    engine: str = "vllm",
    timeout_s: float = 900,
    progress: bool = True,
) -> ServeHandle:
    """Start (or reuse) the server for ``profile`` on 127.0.0.1:``port`` and wait until it answers.

    ``engine``: ``vllm`` (vLLM on Ray Serve; port 8000 by default) or ``llamacpp`` (llama.cpp's server on the
    profile's model GGUF; port 8080 by default, where the catalog's ``llamacpp/*`` entries call it)."""
    from serving import llamacpp
    from serving.config import profile_dict

    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    port = port or (llamacpp.DEFAULT_PORT if engine == "llamacpp" else DEFAULT_PORT)
    folder = state_dir_for(port, state_dir)
    cfg = profile_dict(profile)
    model_id = cfg["model_loading_config"]["model_id"]
    state = _read_state(folder)
    if state and _alive(state["pid"]):
        if (state["profile"], state["port"], state.get("engine", "vllm")) != (profile, port, engine):
            raise ServeError(
                f"a {state.get('engine', 'vllm')} server for {state['profile']!r} on port {state['port']} already "
                f"runs from {folder} (pid {state['pid']}); stop it with `tierlab serve down --state-dir {folder}` "
                "or use another state dir"
            )
        _say(progress, f"already running (pid {state['pid']}), checking health…")
        return _wait_ready(_handle(state, folder), folder, timeout_s, progress)
    if state:
        (folder / STATE_FILE).unlink()
    if _port_busy(port):
        raise PortBusy(
            f"port {port} on 127.0.0.1 is in use by another program (not a server started from {folder}); "
            "pick another --port or stop that program"
        )
    if engine == "vllm":
        _check_model_prepared(cfg["model_loading_config"].get("model_source"))
    key = security.serve_api_key(create=True)
    if engine == "llamacpp":
        llama_command = functools.partial(
            llamacpp.command, model_id, local_models.gguf_path(model_id), port,
            completion=local_models.get(model_id).style == "completion",
        )  # fmt: skip
        try:
            cmd = llama_command()
        except FileNotFoundError as exc:
            raise ServeError(str(exc)) from None
        env = {**os.environ, llamacpp.KEY_ENV: key}
    else:
        env = {
            **security.local_ray_env(),
            **SERVER_ENV,
            security.SERVE_KEY_ENV: key,
            "PYTHONPATH": os.pathsep.join([str(paths.REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        cmd = [sys.executable, "-m", "serving.app", "--profile", profile, "--port", str(port),
               "--temp-dir", str(ray_temp_dir(folder))]  # fmt: skip
    state = {"port": port, "profile": profile, "engine": engine, "model_id": model_id,
             "base_url": f"http://127.0.0.1:{port}/v1"}  # fmt: skip
    try:
        return _launch(cmd, env, folder, state, timeout_s, progress)
    except ServeError as err:
        if engine != "llamacpp" or err.exit_code != -signal.SIGSEGV:
            raise
        _say(progress, llamacpp.AMX_CRASH_HINT)
        cmd = llama_command(repack=False)
        return _launch(cmd, env, folder, {**state, "fallback": "--no-repack"}, timeout_s, progress)


def _launch(cmd: list[str], env: dict, folder: Path, state: dict, timeout_s: float, progress: bool) -> ServeHandle:
    """Start ``cmd`` in its own process group, record it in the state dir and wait until it generates."""
    with (folder / LOG_FILE).open("ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=folder, start_new_session=True)  # fmt: skip
    state = {**state, "pid": proc.pid, "pgid": proc.pid, "started_at": time.time()}
    (folder / STATE_FILE).write_text(json.dumps(state, indent=2))
    _say(progress, f"starting {state['profile']} on {state['engine']} (pid {proc.pid}), log: {folder / LOG_FILE}")
    try:
        return _wait_ready(_handle(state, folder), folder, timeout_s, progress)
    except ServeError as err:
        down(state_dir=folder, port=state["port"])
        err.exit_code = _EXIT_CODES.get(proc.pid)
        raise


def down(state_dir: str | Path | None = None, port: int = DEFAULT_PORT, *, timeout_s: float = 60) -> bool:
    """Stop every process of the server recorded in the state dir, in any state (start-up included); False if
    nothing of it was running.

    SIGTERM first (``serving.app`` shuts Serve and Ray down cleanly, or aborts a start-up), then SIGKILL for its
    process group, every descendant seen while it wound down (a half-started server spawns vLLM's engine processes
    meanwhile), and whatever still works in the state dir after its parents died (``toolkit.processes``)."""
    folder = state_dir_for(port, state_dir)
    state = _read_state(folder)
    leftovers = _working_in(folder)
    if not state:
        processes.stop(leftovers)
        return bool(leftovers)
    pid, pgid = state["pid"], state["pgid"]
    # Ray puts its workers in their own sessions, so the process group alone would miss them: take the
    # server's descendants while they are still linked to it, again and again until it is gone.
    family = set(descendants(pid)) if _alive(pid) else set()
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _alive(pid) and time.monotonic() < deadline:
            family.update(descendants(pid))
            time.sleep(0.5)
        family.update(descendants(pid) if _alive(pid) else ())
    try:
        os.killpg(pgid, signal.SIGKILL)  # whatever Ray left behind in the group
    except ProcessLookupError:
        pass
    for child in family:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _alive(pid)  # reap if it was our child
    processes.stop(_working_in(folder), timeout_s=5)  # re-parented to PID 1 before we saw them
    (folder / STATE_FILE).unlink(missing_ok=True)
    if not ray_temp_dir(folder).is_relative_to(folder):
        shutil.rmtree(ray_temp_dir(folder), ignore_errors=True)
    return True


def _working_in(folder: Path) -> list[psutil.Process]:
    """The processes of the server of ``folder``, found through its state dir and its Ray temp dir."""
    found = {p.pid: p for p in processes.using(folder)}
    if not ray_temp_dir(folder).is_relative_to(folder):
        found |= {p.pid: p for p in processes.using(ray_temp_dir(folder))}
    return list(found.values())


def ray_temp_dir(folder: Path) -> Path:
    """Ray's temp dir for the server of ``folder``: ``folder/ray`` when short enough, else a short dir under /tmp
    named after the folder. Ray's socket paths (``<temp>/session_<date>_<pid>/sockets/plasma_store``) must stay
    under 108 bytes (AF_UNIX): a state dir under a long ``$TMPDIR`` or ``$TIERLAB_HOME`` made ``ray.init`` fail."""
    inside = folder / "ray"
    if len(str(inside)) <= MAX_RAY_TEMP_CHARS:
        return inside
    return Path("/tmp") / f"tlserve-{hashlib.sha256(str(folder).encode()).hexdigest()[:10]}"


def status(state_dir: str | Path | None = None, port: int = DEFAULT_PORT) -> dict:
    """What runs from the state dir: pid, base URL, whether it is alive and answering, served models, and its
    ``phase`` with the processes (and memory) it holds: ``ready``, ``starting`` (alive, not answering yet),
    ``stopped``, or ``crashed`` (the server process is gone but some of its processes still run: ``serve down``)."""
    folder = state_dir_for(port, state_dir)
    state = _read_state(folder)
    alive = bool(state) and _alive(state["pid"])
    members = {p.pid: p for p in _working_in(folder)}
    if alive:
        for pid in [state["pid"], *descendants(state["pid"])]:
            with contextlib.suppress(psutil.Error):
                members.setdefault(pid, psutil.Process(pid))
    held = {"processes": len(members), "memory_mb": processes.memory_mb(list(members.values()))}
    if not state:
        return {"running": False, "phase": "crashed" if members else "stopped", "state_dir": str(folder), **held}
    models = _models(state["base_url"]) if alive else None
    healthy = False
    if models:  # /v1/models answers long before the engine has loaded: healthy means it generates
        with contextlib.suppress(ServeError):
            healthy = generates(state["base_url"], state["model_id"])
    phase = "ready" if healthy else "starting" if alive else "crashed" if members else "stopped"
    return {
        **state,
        "running": alive,
        "healthy": healthy,
        "phase": phase,
        **held,
        "models": models or [],
        "state_dir": str(folder),
        "api_key": f"${security.SERVE_KEY_ENV}" if os.environ.get(security.SERVE_KEY_ENV)
        else str(security.secret_file(security.SERVE_KEY_FILE, create=False)),
    }


def logs(state_dir: str | Path | None = None, port: int = DEFAULT_PORT, lines: int = 50) -> str:
    """The last ``lines`` lines of the server log (Ray forwards replica logs into it)."""
    file = state_dir_for(port, state_dir) / LOG_FILE
    if not file.is_file():
        return ""
    return "\n".join(file.read_text(errors="replace").splitlines()[-lines:])


def _check_model_prepared(source: str | None) -> None:
    if source and source.startswith("/") and not (Path(source) / "config.json").is_file():
        raise ServeError(
            f"model not prepared: {source} is missing. Run: tierlab models prepare {Path(source).name}"
        )


def _wait_ready(handle: ServeHandle, folder: Path, timeout_s: float, progress: bool) -> ServeHandle:
    """Ready means a one-token completion succeeds: ``/v1/models`` answers long before the engine has loaded."""
    started = time.monotonic()
    while True:
        if generates(handle.base_url, handle.model_id):
            _say(progress, f"\rready in {time.monotonic() - started:.0f} s: {handle.base_url}{' ' * 60}")
            return handle
        if not _alive(handle.pid):
            raise ServeError(
                f"server exited during start-up{_crash_hint(folder)}\n--- log tail ---\n{logs(folder, lines=30)}"
            )
        if time.monotonic() - started > timeout_s:
            raise ServeError(f"server not ready after {timeout_s:.0f} s; log tail:\n{logs(folder, lines=30)}")
        _say(
            progress,
            f"\rwaiting for {handle.model_id} ({time.monotonic() - started:.0f} s) {_last_message(folder)}",
            end="",
        )
        time.sleep(2)


def generates(base_url: str, model_id: str) -> bool:
    """Whether the server at ``base_url`` completes one token of ``model_id`` (ready, and takes our key)."""
    body = json.dumps({"model": model_id, "prompt": "Hi", "max_tokens": 1}).encode()
    headers = {"Content-Type": "application/json", **security.serve_auth_headers(base_url)}
    request = urllib.request.Request(f"{base_url}/completions", body, headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as resp:
            return resp.status == 200
    except urllib.error.HTTPError as err:
        if err.code == 401:
            raise ServeError(
                f"{base_url} refuses the API key (${security.SERVE_KEY_ENV} or "
                f"{security.secret_file(security.SERVE_KEY_FILE, create=False)}): it was started with another key. "
                "Restart it: `tierlab serve down` then `tierlab serve up`."
            ) from None
        return False
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _last_message(folder: Path) -> str:
    """The last log line, shortened; Ray/vLLM JSON log records show only their message."""
    line = logs(folder, lines=1).strip()
    start = line.find('"message": "')
    if start >= 0:
        line = line[start + 12 :].split('", "', 1)[0]
    return f"{line[:70]:<70}"


def _crash_hint(folder: Path) -> str:
    text = logs(folder, lines=200).lower()
    if "outofmemory" in text or "out of memory" in text or "memory" in text and "killed" in text:
        return " (out of memory: stop other model servers or use a smaller profile)"
    return ""


def _models(base_url: str) -> list[str] | None:
    try:
        request = urllib.request.Request(f"{base_url}/models", headers=security.serve_auth_headers(base_url))
        with urllib.request.urlopen(request, timeout=5) as resp:
            return [m["id"] for m in json.load(resp).get("data", [])]
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return None


def _port_busy(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _alive(pid: int) -> bool:
    try:
        done, status = os.waitpid(pid, os.WNOHANG)  # reaps it if it is our child and has exited
        if done:
            _EXIT_CODES[pid] = os.waitstatus_to_exitcode(status)
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_state(folder: Path) -> dict | None:
    file = folder / STATE_FILE
    return json.loads(file.read_text()) if file.is_file() else None


def _handle(state: dict, folder: Path) -> ServeHandle:
    return ServeHandle(base_url=state["base_url"], pid=state["pid"], state_dir=folder,
                       profile=state["profile"], model_id=state["model_id"])  # fmt: skip


def _say(enabled: bool, text: str, end: str = "\n") -> None:
    if enabled:
        print(text, end=end, file=sys.stderr, flush=True)


cli = typer.Typer(help="Local model server on 127.0.0.1: vLLM behind Ray Serve, or llama.cpp.", no_args_is_help=True)
_STATE = typer.Option(None, "--state-dir", help="State dir (default $TIERLAB_HOME/serve/<port>).")


@cli.command("up")
def _up_cmd(
    profile: str = typer.Option(DEFAULT_PROFILE, help="Serving profile (serving/configs/<profile>.yaml)."),
    port: int = typer.Option(None, help="Default: 8000 (vllm), 8080 (llamacpp)."),
    state_dir: Path = _STATE,
    engine: str = typer.Option("vllm", help="vllm (vLLM on Ray Serve) or llamacpp (llama.cpp's server, CPU)."),
) -> None:
    """Start the server in the background (or reuse a healthy one) and print its base URL.

    Exit codes: 0 ready; 1 it could not start (the log tail says why); 2 bad input (port in use by another
    program, unknown engine or profile)."""
    try:
        handle = up(profile, port, state_dir, engine=engine)
    except (PortBusy, ValueError) as exc:  # bad input: another port, engine or profile fixes it
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except ServeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(handle.base_url)


@cli.command("down")
def _down_cmd(port: int = typer.Option(DEFAULT_PORT), state_dir: Path = _STATE) -> None:
    """Stop the server started from the state dir (only its own processes)."""
    typer.echo("stopped" if down(state_dir, port) else "nothing was running")


@cli.command("status")
def _status_cmd(port: int = typer.Option(DEFAULT_PORT), state_dir: Path = _STATE) -> None:
    """Show pid, URL and health."""
    typer.echo(json.dumps(status(state_dir, port), indent=2))


@cli.command("logs")
def _logs_cmd(
    port: int = typer.Option(DEFAULT_PORT), state_dir: Path = _STATE, lines: int = typer.Option(50, "-n")
) -> None:
    """Print the tail of the server log."""
    typer.echo(logs(state_dir, port, lines))
