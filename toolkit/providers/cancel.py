"""Stopping model calls at once: a run's cancel event, seen by every call made on its behalf.

Why: a question may make several calls (CoVe: baseline, plan, verify, final), wait for a quota window, or back off
before a retry. When the user presses Ctrl-C or Cancel, the call in flight may finish, but no further call may
start and no wait may go on. The runner sets the event for the thread answering a question (``stopping``);
langchain copies the context into the threads of ``llm.batch``, so the calls those make see it too.
"""

import contextlib
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar

_EVENT: ContextVar[threading.Event | None] = ContextVar("tierlab_cancel", default=None)


class CallCancelled(RuntimeError):
    """The run was cancelled before this call was made (nothing was sent)."""


@contextlib.contextmanager
def stopping(event: threading.Event) -> Iterator[None]:
    """Calls made inside the block (this thread and the threads of its batches) stop once ``event`` is set."""
    token = _EVENT.set(event)
    try:
        yield
    finally:
        _EVENT.reset(token)


def check() -> None:
    """Raise ``CallCancelled`` if the run this call belongs to was cancelled."""
    event = _EVENT.get()
    if event is not None and event.is_set():
        raise CallCancelled("the run was cancelled; this call was not made")


def sleep(seconds: float) -> None:
    """``time.sleep`` that ends early with ``CallCancelled`` when the run is cancelled (quota waits, backoff)."""
    event = _EVENT.get()
    if event is None:
        time.sleep(seconds)
    elif event.wait(max(seconds, 0.0)):
        raise CallCancelled("the run was cancelled while this call waited; it was not made")
