"""The append-only result store: one JSON line per answered (arm, question), written the moment it arrives.

Why JSONL: an append is atomic enough for a crash (``kill -9`` can at worst leave one torn last line), a rerun just
reads which keys are done, and the file is human-readable. One store per spec hash, under
``paths.subdir("runs")/<name>-<hash>``.

Nothing is dropped silently: a torn last line is skipped with a warning (and moved to ``answers.torn`` before the
next run appends), any other unreadable line is a ``StoreError`` naming file and line. Every line carries
``schema_version``; lines without one are version 1 (written before versions existed).
"""

import contextlib
import json
import os
import threading
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from pydantic import Field, ValidationError, model_validator

from toolkit import paths
from toolkit.jsonl import append_line, read_models, set_aside_torn_tail
from toolkit.judges.base import Verdict
from toolkit.records import Answer, Question, Record, Usage

SCHEMA_VERSION = 3
"""Version of the ``answers.jsonl`` line layout written by this code (1: no version field; 2: schema_version;
3: ``verdicts`` per judge instead of ``verdict`` and ``llm_verdict``, which older lines still load into)."""


class StoreError(RuntimeError):
    """A store that cannot be read as it is (names file, line and the fix), or a run folder already in use."""


class AnswerRecord(Record):
    """One arm's answer to one question, with everything needed to score it again without any model call."""

    schema_version: int = SCHEMA_VERSION
    arm: str
    provider: str = Field(description="Provider part of the arm (catalog id, or label).")
    method: str
    question: Question
    answer: Answer
    latency_s: float = Field(description="Wall time of the whole method call (all its steps).")
    verdicts: dict[str, Verdict] = Field(
        min_length=1,
        description="One verdict per judge, by judge name, in the spec's order: the first is the primary judge's.",
    )
    finished_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="microseconds"))

    @model_validator(mode="before")
    @classmethod
    def _older_verdict_fields(cls, data: Any) -> Any:
        """Lines written before ``verdicts`` (schema 1-2) carry ``verdict`` and maybe ``llm_verdict``."""
        if isinstance(data, dict) and "verdicts" not in data and "verdict" in data:
            data = dict(data)
            verdict, llm = data.pop("verdict"), data.pop("llm_verdict", None)
            name = verdict.judge if isinstance(verdict, Verdict) else verdict.get("judge", "offline")
            data["verdicts"] = {name: verdict, **({"llm": llm} if llm is not None else {})}
        return data

    @property
    def key(self) -> tuple[str, str]:
        return self.arm, self.question.id

    @property
    def verdict(self) -> Verdict:
        """The primary judge's verdict (read-only view; the ``hallucination`` metric)."""
        return next(iter(self.verdicts.values()))

    @property
    def llm_verdict(self) -> Verdict | None:
        """The first LLM judge's verdict beside the primary judge, if one judged this answer (read-only view)."""
        return next((v for name, v in list(self.verdicts.items())[1:] if name.startswith("llm")), None)


class FailedAttempt(Record):
    """A question that raised after spending model calls: the spend is real, so it is kept and counted."""

    schema_version: int = SCHEMA_VERSION
    arm: str
    provider: str
    question_id: str
    error: str
    usage: Usage
    finished_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


def run_dir(run_key: str, root: Path | None = None) -> Path:
    path = (root or paths.subdir("runs")) / run_key
    path.mkdir(parents=True, exist_ok=True)
    return path


class Store:
    """Thread-safe appends to ``answers.jsonl``; ``records()`` keeps the first record per key."""

    FILE = "answers.jsonl"
    FAILURES = "failures.jsonl"

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / self.FILE
        self._lock = threading.Lock()

    def records(self) -> dict[tuple[str, str], AnswerRecord]:
        found: dict[tuple[str, str], AnswerRecord] = {}
        if not self.path.exists():
            return found
        lines = self.path.read_bytes().split(b"\n")
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                record = self._parse(raw)
            except (ValidationError, ValueError) as error:
                if number == len(lines):  # no newline after it: a write cut short by a crash
                    warnings.warn(
                        f"{self.path}:{number}: skipping a torn last line (a write cut short by a crash); "
                        "its question will be asked again.",
                        stacklevel=2,
                    )
                    continue
                raise StoreError(
                    f"{self.path}:{number}: unreadable answer record: {str(error).splitlines()[0][:200]}. "
                    "Fix or remove that line (nothing else is read past an error)."
                ) from None
            found.setdefault(record.key, record)
        return found

    def _parse(self, raw: bytes) -> AnswerRecord:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        version = data.setdefault("schema_version", 1)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {version!r} is newer than this TierLab reads ({SCHEMA_VERSION}); upgrade TierLab"
            )
        return AnswerRecord.model_validate(data)

    def set_aside_torn_tail(self) -> None:
        """Move a torn last line (no newline after it) to ``answers.torn``, so appends start on a clean line.

        Called once by the runner holding the run lock, before any worker appends; the bytes are kept, not lost.
        """
        set_aside_torn_tail(self.path)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the run folder's lock: one runner per folder, so no answer is ever paid for twice.

        A second runner of the same spec stops at once with a ``StoreError`` saying who holds it. The lock is the
        OS's (``filelock``), so it is released when its process ends, also after ``kill -9``.
        """
        lock = FileLock(self.directory / "run.lock", timeout=0)
        owner = self.directory / "run.owner"
        try:
            lock.acquire()
        except Timeout:
            holder = owner.read_text(encoding="utf-8").strip() if owner.exists() else "another process"
            raise StoreError(
                f"{self.directory} is in use by another TierLab run ({holder}). Wait for it to finish, then run "
                "again: the answers it stores are reused, none is asked twice."
            ) from None
        try:
            owner.write_text(
                f"pid {os.getpid()}, started {datetime.now(UTC).isoformat(timespec='seconds')}",
                encoding="utf-8",
            )
            yield
        finally:
            owner.unlink(missing_ok=True)
            lock.release()

    def failures(self) -> list[FailedAttempt]:
        """Every failed attempt that spent calls (``failures.jsonl``; a torn last line is skipped)."""
        return read_models(self.directory / self.FAILURES, FailedAttempt, what="failure record", error=StoreError,
                           warn_torn=False)

    def append_failure(self, failure: FailedAttempt) -> None:
        self._append_line(self.directory / self.FAILURES, failure.model_dump_json())

    def append(self, record: AnswerRecord) -> None:
        self._append_line(self.path, record.model_dump_json())

    def _append_line(self, path: Path, text: str) -> None:
        with self._lock:
            append_line(path, text)

    def write_json(self, name: str, data: dict) -> Path:
        path = self.directory / name
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
        tmp.replace(path)
        return path
