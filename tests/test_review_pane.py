"""The review pane without a browser: choose arms, step, click the mark buttons, type keys, draw and label the
random sample, see the progress and the corrected rates (the run: test_review's stored run, no MLflow)."""

from test_review import PlanningGoldServer, review, stored_run  # noqa: F401 - fixtures


def _pane(review):  # noqa: F811
    from toolkit.ui.review_pane import ReviewPane

    return ReviewPane(review, sample_size=10)


def test_two_arms_side_by_side_and_the_buttons_mark_the_shown_answers(review):  # noqa: F811
    pane = _pane(review)
    left, right = review.arms
    assert pane.arms == [left, right] and pane.position.value == "question 1 of 12"
    assert "Gold:" in pane.question.value and "CoVe verification" in pane.columns[1].card.value
    question = pane.current
    pane.columns[0].buttons["correct"].click()
    pane.columns[1].buttons["hallucinated"].click()
    standing = review.marks.current()
    assert standing[(left, question)].accuracy == "correct" and standing[(right, question)].hallucination == "hallucinated"
    assert "Human mark:</b> correct" in pane.columns[0].card.value and "stored with the run" in pane.status.value
    pane.next.click()
    assert pane.position.value == "question 2 of 12" and pane.current != question


def test_keys_mark_left_and_right_and_move(review):  # noqa: F811
    pane = _pane(review)
    first = pane.current
    pane.keys.value = "cS"  # left correct, right supported
    assert pane.keys.value == ""
    standing = review.marks.current()
    assert standing[(review.arms[0], first)].accuracy == "correct"
    assert standing[(review.arms[1], first)].hallucination == "supported"
    pane.keys.value = "n"
    assert pane.index == 1
    pane.keys.value = "p"
    assert pane.index == 0


def test_label_a_random_sample_shows_progress_then_corrected_rates(review):  # noqa: F811
    pane = _pane(review)
    pane.mode.value = "random sample"
    assert "No sample drawn yet" in pane.question.value
    pane.draw.click()
    assert pane.position.value == "question 1 of 10" and "0 of 10 labelled" in pane.progress.value
    assert "judge only, uncorrected (0 human labels, 10 needed)" in pane.rates.value
    pane.reviewer.value = "ana"
    for i in range(10):
        pane.keys.value = ("hH" if i % 3 == 0 else "sS") + "n"
    assert f"<b>{review.arms[0]}</b>: 10 of 10 labelled" in pane.progress.value
    assert "uncorrected (" not in pane.rates.value  # every arm's rate is corrected now
    rates = review.rates()
    assert all(arm.labels == 10 and arm.ppi_rate is not None for arm in rates.arms)
    assert {m.reviewer for m in review.marks.history()} == {"ana"}
    assert pane.sync_button.disabled  # not tracked: nothing to sync with


def test_the_results_view_shows_judge_only_and_corrected_rates(review):  # noqa: F811
    from toolkit.ui.results import ResultsView

    view = ResultsView(review.result, plots=False)
    assert "judge only (uncorrected)" in view.corrected.value and "no review sample drawn" in view.corrected.value
