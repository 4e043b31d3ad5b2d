"""Append-only JSON-lines files: one record a line, appended durably, read back strictly.

The result store, failed attempts, self-hosted reservations, human marks and strategy review queues all keep their
records this way. A crash (``kill -9``) can at worst leave one torn last line: readers skip it (with a warning),
``set_aside_torn_tail`` moves it to ``<stem>.torn`` (kept, not lost) and ``append_line`` never glues a record onto
it. Any other unreadable line is an error naming file and line: nothing is dropped silently.
"""

import os
import warnings
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


def append_line(path: Path, text: str) -> None:
    """Append one line durably (fsync), first fencing off a torn last line a crash may have left."""
    with path.open("a+b") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell():
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                handle.write(b"\n")  # fence off a torn line
        handle.write((text + "\n").encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())


def set_aside_torn_tail(path: Path) -> None:
    """Move a torn last line of ``path`` (no newline after it) to ``<stem>.torn``: kept, not lost, not read."""
    if not path.exists():
        return
    with path.open("r+b") as handle:
        data = handle.read()
        if not data or data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        with path.with_suffix(".torn").open("ab") as torn:
            torn.write(data[cut:] + b"\n")
        handle.truncate(cut)


def read_models(path: Path, model: type[Model], *, what: str = "record", error: type[Exception] = ValueError,
                warn_torn: bool = True) -> list[Model]:
    """Every ``model`` line of ``path`` in file order (``[]`` when there is no file). A torn last line is skipped
    (with a warning unless ``warn_torn`` is off); any other unreadable line raises ``error`` naming file and line."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")
    found = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            found.append(model.model_validate_json(line))
        except ValidationError as problem:
            if number == len(lines):  # no newline after it: a write cut short by a crash
                if warn_torn:
                    warnings.warn(f"{path}:{number}: skipping a torn last line (a write cut short by a crash)",
                                  stacklevel=2)
                continue
            raise error(f"{path}:{number}: unreadable {what} ({problem.errors()[0]['msg']}); fix or remove that "
                        "line") from None
    return found
