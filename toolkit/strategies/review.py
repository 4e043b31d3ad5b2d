"""Human review: low-confidence answers go into a queue on disk; a person marks them; marks adjust accuracy.

The queue and the marks are append-only JSONL files under ``<home>/review/<queue>/`` so a review can be done
later, in another kernel, by another person, and replayed. The last mark for a question wins. "Reviewed accuracy"
replaces the automatic score of each reviewed question by the human mark; the cost of review is the number of
items per 100 questions.
"""

import re
import time
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from toolkit.jsonl import append_line, read_models
from toolkit.records import Answer, Question


class ReviewItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    question_id: str
    question: str
    answer: str
    gold: tuple[str, ...] = ()
    confidence: float
    reasons: tuple[str, ...] = ()
    auto_correct: float | None = Field(default=None, description="The automatic score, shown for comparison.")
    arm: str = ""


class Mark(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    question_id: str
    correct: bool
    reviewer: str = ""
    at: float = Field(default_factory=time.time)


def queue_dir(name: str) -> Path:
    from toolkit.paths import subdir

    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise ValueError(f"review queue name {name!r} may only hold letters, digits, '.', '_' and '-'")
    path = subdir("review") / name
    path.mkdir(parents=True, exist_ok=True)
    return path


class ReviewQueue:
    """Items to review and the marks given, for one run (``name`` is usually the run id or arm key)."""

    def __init__(self, name: str, root: str | Path | None = None):
        self.name = name
        self.dir = Path(root) / name if root else queue_dir(name)
        self.dir.mkdir(parents=True, exist_ok=True)

    def _append(self, file: str, record: BaseModel) -> None:
        append_line(self.dir / file, record.model_dump_json())

    def _read(self, file: str, model: type[BaseModel]) -> list:
        return read_models(self.dir / file, model, what=f"review {file.split('.')[0]} line")

    def add(self, item: ReviewItem) -> None:
        if item.question_id not in {i.question_id for i in self.items()}:
            self._append("queue.jsonl", item)

    def items(self) -> list[ReviewItem]:
        return self._read("queue.jsonl", ReviewItem)

    def mark(self, question_id: str, correct: bool, reviewer: str = "") -> Mark:
        if question_id not in {i.question_id for i in self.items()}:
            raise KeyError(f"question {question_id!r} is not in review queue {self.name!r}")
        mark = Mark(question_id=question_id, correct=correct, reviewer=reviewer)
        self._append("marks.jsonl", mark)
        return mark

    def marks(self) -> dict[str, bool]:
        return {m.question_id: m.correct for m in self._read("marks.jsonl", Mark)}

    def pending(self) -> list[ReviewItem]:
        done = self.marks()
        return [i for i in self.items() if i.question_id not in done]


def answer_confidence(answer: Answer) -> tuple[float, tuple[str, ...]]:
    """Confidence in [0, 1] from what the answer carries: cascade signals, abstention, and method flags."""
    from toolkit.strategies.cascade import is_abstention, verification_disagrees

    reasons = []
    cascade = answer.details.get("cascade")
    if cascade:
        reasons += [f"signal:{name}" for name, fired in cascade["signals"].items() if fired]
        score = cascade["confidence"]
    else:
        checks = {"abstention": is_abstention(answer.text)}
        disagree = verification_disagrees(answer)
        if disagree is not None:
            checks["verification"] = disagree
        reasons += [f"signal:{name}" for name, fired in checks.items() if fired]
        score = 1.0 - sum(checks.values()) / len(checks)
    if "cache_semantic" in answer.flags:
        reasons.append("semantic_cache_hit")
        score = min(score, answer.details["cache"]["similarity"])
    if "batch_retry" in answer.flags or any(f.endswith("unparsable") for f in answer.flags):
        reasons.append("format_trouble")
        score = min(score, 0.5)
    return score, tuple(reasons)


def flag_for_review(queue: ReviewQueue, question: Question, answer: Answer, threshold: float, arm: str = "",
                    auto_correct: float | None = None) -> bool:
    """Queue ``answer`` when its confidence is below ``threshold``; returns whether it was queued."""
    score, reasons = answer_confidence(answer)
    if score >= threshold:
        return False
    queue.add(ReviewItem(question_id=question.id, question=question.question, answer=answer.text,
                         gold=question.answers, confidence=score, reasons=reasons, auto_correct=auto_correct, arm=arm))
    return True


def reviewed_accuracy(auto: Mapping[str, float | None], marks: Mapping[str, bool]) -> float | None:
    """Mean accuracy where each human mark replaces the automatic score of its question."""
    values = [float(marks[q]) if q in marks else v for q, v in auto.items()]
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def review_summary(queue: ReviewQueue, auto: Mapping[str, float | None], verdicts: Mapping | None = None
                   ) -> dict[str, float]:
    """Metrics for MLflow: review cost (items per 100 questions), items marked, and reviewed accuracy.

    With the judge's ``verdicts`` (question id -> Verdict) also the judge's agreement with the human marks
    (``review.judge_kappa``: Cohen's kappa of "supported" vs "marked correct")."""
    marks = {q: m for q, m in queue.marks().items() if q in auto}
    auto_values = [v for v in auto.values() if v is not None]
    out = {
        "review.items_per_100": 100.0 * len([i for i in queue.items() if i.question_id in auto]) / max(len(auto), 1),
        "review.marked": float(len(marks)),
        "accuracy_auto": sum(auto_values) / len(auto_values) if auto_values else float("nan"),
    }
    reviewed = reviewed_accuracy(auto, marks)
    if reviewed is not None:
        out["accuracy_reviewed"] = reviewed
    if verdicts:
        from toolkit.judges import human_agreement

        agree = human_agreement(verdicts, marks)
        if agree["n"]:
            out |= {"review.judge_kappa": agree["kappa"], "review.judge_agreement": agree["agreement"],
                    "review.judge_n": agree["n"]}
    return out

