"""Small real HTTP servers on 127.0.0.1 that tests talk to through the real provider client.

``ChatServer`` is an OpenAI-compatible ``/v1/models`` + ``/v1/chat/completions`` that answers deterministically
and counts every request, so each model call a test causes is observable. Subclass it and override ``reply`` for a
test's own answers. It stands in for any endpoint other than the emulator: a self-hosted server, or the "real"
provider in the isolation tests.
"""

import hashlib
import json
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def refused_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{free_port()}/v1"


class ChatServer:
    """Counts requests by their messages (``calls``); keeps every request body (``bodies``) and Authorization
    header (``auth``).

    ``delay_s`` slows each answer; ``gate``, when set, holds each request until it is set (cancel tests);
    ``status``, when set (e.g. 401), answers every chat request with that HTTP error (counted all the same).
    """

    model_id = "smollm2-135m-instruct"
    card: dict = {}
    """Extra fields of the model card ``GET /models`` lists (e.g. ``{"max_model_len": 1024}``)."""

    def __init__(self, port: int = 0, delay_s: float = 0.0):
        self.delay_s = delay_s
        self.gate: threading.Event | None = None
        self.status: int | None = None
        self.calls: Counter = Counter()
        self.bodies: list[dict] = []
        self.auth: list[str] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._json({"object": "list", "data": [{"id": outer.model_id, "object": "model", **outer.card}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.calls[hashlib.sha256(json.dumps(body["messages"], sort_keys=True).encode()).hexdigest()] += 1
                    outer.bodies.append(body)
                    outer.auth.append(self.headers.get("Authorization", ""))
                if outer.gate is not None:
                    outer.gate.wait(30)
                time.sleep(outer.delay_s)
                prompt = " ".join(str(m["content"]) for m in body["messages"])
                if (status := outer.status_for(prompt)) is not None:
                    self._json({"error": {"message": f"stub error {status}"}}, status)
                    return
                text = outer.reply(prompt)
                self._json({
                    "id": f"stub-{len(outer.bodies)}", "object": "chat.completion", "created": 0,
                    "model": body.get("model", "m"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 20, "completion_tokens": 4, "total_tokens": 24},
                })

            def _json(self, data, status: int = 200):
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                try:
                    self.wfile.write(raw)
                except BrokenPipeError:  # the client was killed mid-call (kill -9 tests)
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def status_for(self, prompt: str) -> int | None:
        """The HTTP error to answer ``prompt`` with, or None to answer it (default: ``status``)."""
        return self.status

    def reply(self, prompt: str) -> str:
        """The answer text; a counter in it makes every call's answer distinct (``stub answer N: ...``)."""
        return f"stub answer {len(self.bodies)}: {prompt[:40]}"

    def total(self) -> int:
        return sum(self.calls.values())

    def repeated(self) -> int:
        return sum(n - 1 for n in self.calls.values() if n > 1)

    def reset(self) -> Counter:
        with self.lock:
            seen, self.calls = self.calls, Counter()
        return seen

    def close(self) -> None:
        if self.gate is not None:
            self.gate.set()
        self.server.shutdown()
        self.server.server_close()
