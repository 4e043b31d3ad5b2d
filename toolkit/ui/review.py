"""Human review panel: show queued low-confidence answers one at a time; a person marks them correct/incorrect.

(Owned by the strategies area.) The queue and marks live on disk (``toolkit.strategies.review.ReviewQueue``), not in
the widgets, so a review survives a kernel restart and the panel is testable by setting values and calling
``.click()``. ``on_mark`` lets the notebook push marks to MLflow (``toolkit.strategy_runs.sync_review``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from toolkit.strategies.review import ReviewItem, ReviewQueue
from toolkit.ui.html import esc


class ReviewPanel:
    def __init__(self, queue: ReviewQueue, reviewer: str = "", on_mark: Callable[[ReviewItem, bool], None] | None = None,
                 verdicts: Mapping | None = None):
        """``verdicts`` (question id -> the judge's Verdict) adds the judge's agreement with the marks (Cohen's kappa)."""
        import ipywidgets as w

        self.queue, self.on_mark, self.verdicts = queue, on_mark, verdicts
        self.reviewer = w.Text(value=reviewer, description="Reviewer")
        self.card = w.HTML()
        self.status = w.HTML()
        self.correct = w.Button(description="Correct", button_style="success")
        self.incorrect = w.Button(description="Incorrect", button_style="danger")
        self.skip = w.Button(description="Skip")
        self.correct.on_click(lambda _: self._mark(True))
        self.incorrect.on_click(lambda _: self._mark(False))
        self.skip.on_click(lambda _: self._next())
        self._skipped: set[str] = set()
        self.widget = w.VBox([self.reviewer, self.card, w.HBox([self.correct, self.incorrect, self.skip]), self.status])
        self.current: ReviewItem | None = None
        self._next()

    def _next(self) -> None:
        if self.current is not None:
            self._skipped.add(self.current.question_id)
        self._show()

    def _show(self) -> None:
        pending = self.queue.pending()
        todo = [i for i in pending if i.question_id not in self._skipped] or pending
        self.current = todo[0] if todo else None
        for button in (self.correct, self.incorrect, self.skip):
            button.disabled = self.current is None
        total, done = len(self.queue.items()), len(self.queue.marks())
        self.status.value = f"{done} of {total} reviewed" + self._judge_agreement()
        if self.current is None:
            self.card.value = "<i>Nothing left to review.</i>"
            return
        c = self.current
        self.card.value = (
            f"<b>Q:</b> {esc(c.question)}<br><b>Answer:</b> {esc(c.answer)}<br>"
            f"<b>Gold:</b> {esc('; '.join(c.gold) or '(none: unanswerable)')}<br>"
            f"<small>confidence {c.confidence:.2f} · {esc(', '.join(c.reasons) or 'no reason recorded')} · "
            f"automatic score {esc(c.auto_correct)}</small>"
        )

    def _judge_agreement(self) -> str:
        if not self.verdicts:
            return ""
        from toolkit.judges import human_agreement

        agree = human_agreement(self.verdicts, self.queue.marks())
        if not agree["n"]:
            return ""
        kappa = "undefined" if agree["kappa"] != agree["kappa"] else f"{agree['kappa']:.2f}"
        return f" · judge vs marks: agreement {agree['agreement']:.0%}, Cohen's κ {kappa} (n={int(agree['n'])})"

    def _mark(self, correct: bool) -> None:
        if self.current is None:
            return
        item = self.current
        self.queue.mark(item.question_id, correct, reviewer=self.reviewer.value)
        self._skipped.discard(item.question_id)
        self.current = None
        if self.on_mark:
            self.on_mark(item, correct)
        self._show()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
