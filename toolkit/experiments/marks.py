"""Human review marks, kept with the run's stored answers: ``<run dir>/marks.jsonl`` and ``review_sample.json``.

A mark is one reviewer's reading of one arm's answer to one question: accuracy (correct / incorrect) and/or
hallucination (supported / hallucinated / abstained). Marks are appended, never rewritten (the same durable append
as ``answers.jsonl``: a crash can at worst tear the last line, which is skipped), so no mark is ever lost; the
newest mark of each field wins. Marks come from the notebook pane, the CLI, a script, or the MLflow UI (read back by
``toolkit.tracking.human``; those carry ``source="mlflow"`` and the assessment id, so reading them twice adds
nothing).

The random sample prediction-powered rates need is drawn once per arm (seeded) and stored, so it stays the same
across kernels and reviewers; asking for a bigger sample extends it in the same random order.
"""

import json
import random
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from toolkit.jsonl import append_line, read_models, set_aside_torn_tail
from toolkit.records import Record

AccuracyMark = Literal["correct", "incorrect"]
HallucinationMark = Literal["supported", "hallucinated", "abstained"]
ACCURACY: tuple[str, ...] = ("correct", "incorrect")
HALLUCINATION: tuple[str, ...] = ("supported", "hallucinated", "abstained")
Source = Literal["notebook", "cli", "script", "mlflow"]
MARKS_FILE = "marks.jsonl"
SAMPLE_FILE = "review_sample.json"


class MarkError(ValueError):
    """A mark that cannot be stored (unknown arm, question or label); the message names the fix."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class HumanMark(Record):
    """One reviewer's marks on one answer (either field may be absent: a reviewer may mark only one)."""

    arm: str
    question_id: str
    accuracy: AccuracyMark | None = None
    hallucination: HallucinationMark | None = None
    reviewer: str = Field(default="", description="Who marked it (a name or e-mail; MLflow's user for UI marks).")
    at: str = Field(default_factory=_now, description="When it was marked (ISO 8601, UTC).")
    source: Source = "script"
    mark_id: str = Field(default_factory=lambda: uuid.uuid4().hex,
                         description="Unique id; 'mlflow:<assessment id>' for marks read back from MLflow.")

    @model_validator(mode="after")
    def _something_marked(self) -> "HumanMark":
        if self.accuracy is None and self.hallucination is None:
            raise ValueError("a mark needs accuracy (correct/incorrect) or hallucination "
                             "(supported/hallucinated/abstained)")
        return self


class MarkStore:
    """The marks of one run folder (``run_dir``), and its review sample."""

    def __init__(self, run_dir: str | Path):
        self.directory = Path(run_dir)
        self.path = self.directory / MARKS_FILE

    def add(self, mark: HumanMark) -> HumanMark:
        self.directory.mkdir(parents=True, exist_ok=True)
        set_aside_torn_tail(self.path)  # a crash's torn line goes to marks.torn, so the file stays readable
        append_line(self.path, mark.model_dump_json())
        return mark

    def history(self) -> list[HumanMark]:
        """Every mark ever stored, oldest first (a torn last line from a crash is skipped with a warning)."""
        marks = read_models(self.path, HumanMark, what="mark", error=MarkError)
        return sorted(marks, key=lambda m: m.at)  # stable: marks of the same instant keep file order

    def ids(self) -> set[str]:
        return {m.mark_id for m in self.history()}

    def current(self) -> dict[tuple[str, str], HumanMark]:
        """(arm, question id) -> the answer's standing marks: per field, the newest mark that set it."""
        standing: dict[tuple[str, str], HumanMark] = {}
        for mark in self.history():
            key = (mark.arm, mark.question_id)
            before = standing.get(key)
            if before is None:
                standing[key] = mark
                continue
            update = {name: value for name in ("accuracy", "hallucination")
                      if (value := getattr(mark, name)) is not None}
            standing[key] = before.model_copy(update={**update, "reviewer": mark.reviewer, "at": mark.at,
                                                      "source": mark.source, "mark_id": mark.mark_id})
        return standing

    # --- the random sample prediction-powered rates need -------------------------------------------------------

    def sample(self) -> dict[str, list[str]]:
        """arm -> question ids of its stored review sample, in the order to label them (empty when none drawn)."""
        path = self.directory / SAMPLE_FILE
        if not path.exists():
            return {}
        return {arm: list(ids) for arm, ids in json.loads(path.read_text(encoding="utf-8"))["arms"].items()}

    def draw_sample(self, answered: dict[str, list[str]], size: int, seed: int) -> dict[str, list[str]]:
        """Draw (or extend) each arm's random sample of ``size`` answered questions, and store it.

        One random order of all question ids (seeded) serves every arm, so arms that answered the same questions get
        the same sample and their difference can be estimated on paired labels. An arm keeps what was drawn before;
        a larger ``size`` adds the next questions of the same order.
        """
        if size < 1:
            raise MarkError(f"sample size {size} must be at least 1")
        order = sorted({q for ids in answered.values() for q in ids})
        random.Random(f"tierlab-review-{seed}").shuffle(order)
        drawn = self.sample()
        for arm, ids in answered.items():
            have = set(ids)
            kept = [q for q in drawn.get(arm, []) if q in have]
            extra = [q for q in order if q in have and q not in kept]
            drawn[arm] = (kept + extra)[: max(size, len(kept))]
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / SAMPLE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"seed": seed, "size": size, "arms": drawn}, indent=2), encoding="utf-8")
        tmp.replace(path)
        return drawn
