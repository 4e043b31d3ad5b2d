"""Reviewing a stored run from Python: two arms side by side, question by question, human marks, a random sample.

The notebook pane (``toolkit.ui.review_pane``) is a thin widget over this class; a script or the CLI uses it the
same way::

    review = Review.open("quickstart-1a2b3c4d5e6f")          # a run folder name or a spec path
    review.draw_sample(30)                                     # per arm, seeded; stored with the run
    view = review.view(review.sample_questions()[0], review.arms[:2])
    review.mark(review.arms[0], view["question_id"], accuracy="correct", hallucination="supported")
    review.sync()                                              # HUMAN assessments in MLflow, and UI marks back
    review.rates()                                             # judge-only and prediction-powered rates

Marks are stored first (``MarkStore``), then written to MLflow when the run was tracked: an MLflow that is down loses
no mark; ``sync()`` pushes what is missing (it is idempotent).
"""

import json
from pathlib import Path

from toolkit.experiments.marks import ACCURACY, HALLUCINATION, HumanMark, MarkError, MarkStore, Source
from toolkit.experiments.rates import CorrectedRates, corrected_rates
from toolkit.judges import shown_context

DEFAULT_SAMPLE = 30


class Review:
    """The review of one stored run (an ``ExperimentResult``): what to show, marks, the sample, the rates."""

    def __init__(self, result, *, reviewer: str = "", source: Source = "script", tracking_uri: str | None = None):
        self.result, self.reviewer, self.source = result, reviewer, source
        self.marks = MarkStore(Path(result.run_dir))
        self.records = {(r.arm, r.question.id): r for r in result.records}
        self.arms = [a.arm for a in result.arms]
        self._tracking_uri = tracking_uri
        self._traces: dict | None = None

    @classmethod
    def open(cls, run: str | Path, **options) -> "Review":
        """The review of a stored run: a run folder name under ``<TIERLAB_HOME>/runs`` or a spec path."""
        from toolkit.experiments.runner import load_result

        return cls(load_result(run), **options)

    # --- what to show ----------------------------------------------------------------------------------------------

    def questions(self, arms: list[str]) -> list[str]:
        """Question ids answered by every arm of ``arms``, in the run's order."""
        self._check_arms(arms)
        ids = [r.question.id for r in self.result.records if r.arm == arms[0]]
        return [q for q in ids if all((arm, q) in self.records for arm in arms)]

    def sample_questions(self, arms: list[str] | None = None) -> list[str]:
        """The review sample of ``arms`` (all arms by default), in labelling order, without repeats."""
        sample = self.marks.sample()
        chosen = arms or self.arms
        self._check_arms(chosen)
        return list(dict.fromkeys(q for arm in chosen for q in sample.get(arm, [])))

    def view(self, question_id: str, arms: list[str]) -> dict:
        """Everything a reviewer reads for one question: the question, gold answer and, per arm, the answer, the
        chunks the prompt showed, CoVe's verification questions and answers, the judges' verdicts and the marks."""
        self._check_arms(arms)
        shown = [self.records.get((arm, question_id)) for arm in arms]
        first = next((r for r in shown if r is not None), None)
        if first is None:
            raise MarkError(f"no answer to question {question_id!r} in arms {', '.join(arms)}")
        standing = self.marks.current()
        return {
            "question_id": question_id,
            "question": first.question.question,
            "kind": first.question.kind,
            "gold": list(first.question.answers),
            "arms": {arm: self._arm_view(record, standing.get((arm, question_id)))
                     for arm, record in zip(arms, shown, strict=True)},
        }

    @staticmethod
    def _arm_view(record, mark: HumanMark | None) -> dict | None:
        if record is None:
            return None
        answer, details = record.answer, record.answer.details or {}
        count = details.get("chunks_shown", len(answer.retrieved))
        limit = details.get("max_chunk_chars")
        questions = list(details.get("verification_questions") or [])
        replies = list(details.get("verification_answers") or [])
        return {
            "answer": answer.text,
            "method": record.method,
            "chunks": [(c.id, c.doc_id, c.text[:limit] if limit else c.text) for c in answer.retrieved[:count]],
            "context": shown_context(answer),
            "verification": [(q, replies[i] if i < len(replies) else None) for i, q in enumerate(questions)],
            "verdicts": {name: (v.label, v.reason) for name, v in record.verdicts.items()},
            "mark": mark,
        }

    # --- marks --------------------------------------------------------------------------------------------------

    def mark(self, arm: str, question_id: str, *, accuracy: str | None = None, hallucination: str | None = None,
             reviewer: str | None = None, sync: bool = True) -> HumanMark:
        """Store a mark (then write it to MLflow when the run is tracked and ``sync``); raises ``MarkError`` on an
        arm, question or label that does not exist, storing nothing."""
        if (arm, question_id) not in self.records:
            self._check_arms([arm])
            raise MarkError(f"arm {arm!r} has no answer to question {question_id!r}; "
                            f"its questions: {', '.join(self.questions([arm])[:10])}")
        if accuracy is not None and accuracy not in ACCURACY:
            raise MarkError(f"accuracy {accuracy!r}: use one of {', '.join(ACCURACY)}")
        if hallucination is not None and hallucination not in HALLUCINATION:
            raise MarkError(f"hallucination {hallucination!r}: use one of {', '.join(HALLUCINATION)}")
        if accuracy is None and hallucination is None:
            raise MarkError("nothing to mark: give accuracy and/or hallucination")
        mark = self.marks.add(HumanMark(arm=arm, question_id=question_id, accuracy=accuracy,
                                        hallucination=hallucination, reviewer=reviewer or self.reviewer,
                                        source=self.source))
        if sync and self.tracking() is not None:
            self.push([mark])
        return mark

    def _check_arms(self, arms: list[str]) -> None:
        unknown = [arm for arm in arms if arm not in self.arms]
        if unknown or not arms:
            raise MarkError(f"unknown arm {', '.join(unknown) or '(none given)'}; this run's arms: {', '.join(self.arms)}")

    # --- the random sample and its progress ---------------------------------------------------------------------

    def draw_sample(self, size: int = DEFAULT_SAMPLE, seed: int | None = None) -> dict[str, list[str]]:
        """Draw (or extend) every arm's random review sample; the run's seed unless ``seed`` is given."""
        answered = {arm: [r.question.id for r in self.result.records if r.arm == arm] for arm in self.arms}
        return self.marks.draw_sample(answered, size, self.result.spec.seed if seed is None else seed)

    def progress(self, arm: str) -> tuple[int, int]:
        """(labelled, sample size) of an arm's review sample; labelled = has a human hallucination mark."""
        sample = self.marks.sample().get(arm, [])
        standing = self.marks.current()
        done = sum(1 for q in sample if getattr(standing.get((arm, q)), "hallucination", None) is not None)
        return done, len(sample)

    def progress_text(self, arm: str) -> str:
        done, size = self.progress(arm)
        return f"{done} of {size} labelled" if size else "no sample drawn"

    def rates(self) -> CorrectedRates:
        return corrected_rates(self.result, self.marks)

    # --- MLflow ---------------------------------------------------------------------------------------------------

    def tracking(self) -> tuple[str, str] | None:
        """(tracking URI, parent run id) the run was logged to, or None when it was not tracked."""
        marker = Path(self.result.run_dir) / "tracked.json"
        if not marker.exists():
            return None
        seen = json.loads(marker.read_text(encoding="utf-8"))
        return self._tracking_uri or seen["uri"], seen["run_id"]

    def _answer_traces(self, refresh: bool = False) -> dict:
        from toolkit.tracking import human

        uri, run_id = self.tracking()
        if self._traces is None or refresh:
            self._traces = human.answer_traces(run_id, tracking_uri=uri)
        return self._traces

    def push(self, marks: list[HumanMark]) -> int:
        """Write marks to their traces as HUMAN assessments and update the arms' corrected rates in MLflow."""
        from toolkit.tracking import human

        uri, run_id = self.tracking()
        written, _ = human.push(marks, self._answer_traces())
        human.log_rates(run_id, self.rates(), tracking_uri=uri)
        return written

    def sync(self):
        """Push every local mark missing from MLflow, store the marks reviewers added in the MLflow UI, and log the
        corrected rates; returns the ``SyncReport``. Raises ``MarkError`` when the run was never logged to MLflow."""
        from toolkit.tracking import human

        if self.tracking() is None:
            raise MarkError(f"run {self.result.run_key} was not logged to MLflow: run it with tracking on first")
        uri, run_id = self.tracking()
        self._traces = None
        report = human.sync(run_id, self.marks.history(), self.marks.ids(), tracking_uri=uri)
        for mark in report.pulled:
            self.marks.add(mark)
        human.log_rates(run_id, self.rates(), tracking_uri=uri)
        return report
