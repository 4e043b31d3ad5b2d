"""Serving panel: is the local Ray Serve endpoint up, which model does it serve, how fast; start and stop it.

The state (``ServingState``) and the probes are plain functions over HTTP so they are tested against the real
server; the widgets only show them. Start/stop go through ``toolkit.serve`` (the serving area's API) on a
background thread because bringing a model up takes about a minute here.
"""

from __future__ import annotations

import html
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import ipywidgets as w

from toolkit.security import serve_auth_headers

DEFAULT_URL = "http://127.0.0.1:8000/v1"


@dataclass
class ServingState:
    base_url: str = DEFAULT_URL
    up: bool = False
    models: list[str] = field(default_factory=list)
    tokens_per_s: float | None = None
    busy: str = ""
    message: str = ""

    @property
    def summary(self) -> str:
        if self.busy:
            return f"{self.busy} …"
        if not self.up:
            return f"down ({self.base_url})"
        speed = f" · {self.tokens_per_s:.1f} tok/s" if self.tokens_per_s is not None else ""
        return f"up · {', '.join(self.models) or 'no model'} · {self.base_url}{speed}"


def probe(state: ServingState, timeout: float = 3.0) -> ServingState:
    """Refresh ``up`` and ``models`` from ``GET /models``."""
    try:
        response = httpx.get(f"{state.base_url.rstrip('/')}/models", timeout=timeout,
                             headers=serve_auth_headers(state.base_url))  # fmt: skip
        response.raise_for_status()
        state.models = [m["id"] for m in response.json().get("data", [])]
        state.up = True
        state.message = ""
    except (httpx.HTTPError, ValueError) as exc:
        state.up, state.models = False, []
        state.message = f"no answer from {state.base_url}/models: {type(exc).__name__}"
    return state


def measure_throughput(state: ServingState, max_tokens: int = 16, timeout: float = 120.0) -> ServingState:
    """Output tokens per second of one short chat completion (small on purpose: the CPU model does ~9 tok/s)."""
    if not state.up or not state.models:
        raise RuntimeError(f"the endpoint {state.base_url} is down: start it first (Start button or `tierlab serve up`)")
    body = {
        "model": state.models[0],
        "messages": [{"role": "user", "content": "Count from one to twenty in words."}],
        "max_tokens": max_tokens,
        "temperature": 0,
    }
    started = time.perf_counter()
    response = httpx.post(f"{state.base_url.rstrip('/')}/chat/completions", json=body, timeout=timeout,
                          headers=serve_auth_headers(state.base_url))  # fmt: skip
    response.raise_for_status()
    elapsed = time.perf_counter() - started
    tokens = response.json().get("usage", {}).get("completion_tokens", 0)
    state.tokens_per_s = tokens / elapsed if elapsed > 0 else None
    return state


def _port(base_url: str) -> int:
    return httpx.URL(base_url).port or 80


class ServingPanel:
    """Up/down status, served model and throughput of the local endpoint, with Start/Stop/Refresh/Measure."""

    def __init__(self, base_url: str = DEFAULT_URL, *, profile: str = "cpu-smollm2", state_dir: str | Path | None = None):
        self.state = ServingState(base_url=base_url)
        self.profile = profile
        self.state_dir = state_dir
        self.status = w.HTML()
        self.message = w.HTML()
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.measure_button = w.Button(description="Measure", tooltip="one short request; reports output tok/s")
        self.start_button = w.Button(description="Start", button_style="success")
        self.stop_button = w.Button(description="Stop", button_style="danger")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.logs_button = w.Button(description="Logs", icon="file-text", tooltip="the last lines of the server log")
        self.confirm_stop = w.Button(description="Yes, stop it", button_style="danger")
        self.keep = w.Button(description="Keep it running")
        self.confirm = w.HBox([w.HTML("Stop the local model server? Runs using it will fail."), self.confirm_stop,
                               self.keep], layout=w.Layout(display="none"))
        self.log_tail = w.HTML()
        # measuring takes seconds on a CPU model: on the panel's thread, like start/stop, so the kernel stays free
        self.measure_button.on_click(lambda _: self._in_background("measuring", lambda: measure_throughput(self.state)))
        self.start_button.on_click(lambda _: self._in_background("starting", self._start))
        self.stop_button.on_click(lambda _: self.ask_stop())
        self.confirm_stop.on_click(lambda _: self._confirmed_stop())
        self.keep.on_click(lambda _: self._hide_confirm())
        self.logs_button.on_click(lambda _: self.show_logs())
        self.thread: threading.Thread | None = None
        self.widget = w.VBox(
            [
                w.HTML(f"<b>Serving</b> — profile <code>{profile}</code>"),
                self.status,
                w.HBox([self.refresh_button, self.measure_button, self.start_button, self.stop_button,
                        self.logs_button]),
                self.confirm,
                self.message,
                self.log_tail,
            ]
        )
        self.refresh()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def refresh(self) -> ServingState:
        probe(self.state)
        self._render()
        return self.state

    def ask_stop(self) -> None:
        """Stop asks first: the server took a minute to start and other notebooks may be using it."""
        self.confirm.layout.display = "flex"

    def _hide_confirm(self) -> None:
        self.confirm.layout.display = "none"

    def _confirmed_stop(self) -> None:
        self._hide_confirm()
        self._in_background("stopping", self._stop)

    def show_logs(self, lines: int = 30) -> str:
        """The tail of this port's server log (what `tierlab serve logs` prints), escaped."""
        from toolkit import serve

        try:
            text = serve.logs(state_dir=self.state_dir, port=_port(self.state.base_url), lines=lines)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            text = f"no log: {type(exc).__name__}: {exc}"
        self.log_tail.value = (f"<pre style='font-size:11px;max-height:260px;overflow:auto'>"
                               f"{html.escape(text or '(empty log)')}</pre>")
        return text

    def _start(self) -> None:
        from toolkit import serve

        handle = serve.up(profile=self.profile, port=_port(self.state.base_url), state_dir=self.state_dir, progress=False)
        self.state.message = f"started {handle.model_id} (pid {handle.pid}); logs: `tierlab serve logs`"

    def _stop(self) -> None:
        from toolkit import serve

        if serve.down(state_dir=self.state_dir, port=_port(self.state.base_url)):
            self.state.message = "stopped"
        else:
            folder = serve.state_dir_for(_port(self.state.base_url), self.state_dir)
            self.state.message = (f"no server was started from {folder}; nothing stopped "
                                  "(a server started elsewhere is stopped with its own state dir)")

    def _in_background(self, busy: str, action) -> None:
        if self.thread is not None and self.thread.is_alive():
            self.state.message = f"still {self.state.busy}; wait for it to finish"
            self._render()
            return

        def main():
            try:
                action()
            except Exception as exc:  # noqa: BLE001 - shown to the user
                self.state.message = f"{busy} failed: {type(exc).__name__}: {exc}"
            self.state.busy = ""
            message = self.state.message
            probe(self.state)
            self.state.message = message or self.state.message
            self._render()

        self.state.busy = busy
        self.state.message = ""
        self._render()
        self.thread = threading.Thread(target=main, name=f"tierlab-serve-{busy}", daemon=True)
        self.thread.start()

    def _render(self) -> None:
        colour = "green" if self.state.up else "grey"
        self.status.value = f"<span style='color:{colour}'>●</span> {self.state.summary}"
        self.message.value = f"<small>{html.escape(self.state.message)}</small>" if self.state.message else ""
        self.start_button.disabled = self.state.up or bool(self.state.busy)
        self.stop_button.disabled = not self.state.up or bool(self.state.busy)
        self.measure_button.disabled = not self.state.up or bool(self.state.busy)
