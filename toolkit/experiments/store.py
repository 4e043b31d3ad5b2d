"""The append-only result store: one JSON line per answered (arm, question), written the moment it arrives.

Why JSONL: an append is atomic enough for a crash (``kill -9`` can at worst leave one torn last line, which is
skipped on read and fenced off by a newline before the next append), a rerun just reads which keys are done, and
the file is human-readable. One store per spec hash, under ``paths.subdir("runs")/<name>-<hash>``.
"""

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field, ValidationError

from toolkit import paths
from toolkit.judges.base import Verdict
from toolkit.records import Answer, Question, Record


class AnswerRecord(Record):
    """One arm's answer to one question, with everything needed to score it again without any model call."""

    arm: str
    provider: str = Field(description="Provider part of the arm (catalog id, or label).")
    method: str
    question: Question
    answer: Answer
    latency_s: float = Field(description="Wall time of the whole method call (all its steps).")
    verdict: Verdict = Field(description="The default offline judge's verdict (toolkit.judges).")
    llm_verdict: Verdict | None = Field(
        default=None, description="The LLM judge's verdict, when one is configured."
    )
    finished_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="microseconds"))

    @property
    def key(self) -> tuple[str, str]:
        return self.arm, self.question.id


def run_dir(run_key: str, root: Path | None = None) -> Path:
    path = (root or paths.subdir("runs")) / run_key
    path.mkdir(parents=True, exist_ok=True)
    return path


class Store:
    """Thread-safe appends to ``answers.jsonl``; ``records()`` keeps the first record per key."""

    FILE = "answers.jsonl"

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / self.FILE
        self._lock = threading.Lock()

    def records(self) -> dict[tuple[str, str], AnswerRecord]:
        found: dict[tuple[str, str], AnswerRecord] = {}
        if not self.path.exists():
            return found
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = AnswerRecord.model_validate_json(line)
                except (ValidationError, ValueError):
                    continue  # a line torn by a crash mid-write
                found.setdefault(record.key, record)
        return found

    def append(self, record: AnswerRecord) -> None:
        line = record.model_dump_json() + "\n"
        with self._lock, self.path.open("a+b") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell():
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    handle.write(b"\n")  # fence off a torn line
            handle.write(line.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())

    def write_json(self, name: str, data: dict) -> Path:
        path = self.directory / name
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
        tmp.replace(path)
        return path
