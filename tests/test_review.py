"""Human review without MLflow or a browser: the marks store, the Review API on a real stored run (runner, store and
judge against test_ui's deterministic gold server), prediction-powered rates from marks, the CLI's exit codes, and
the MLflow round trip's mapping on fake traces (the real server: test_review_mlflow.py)."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_ui import GoldServer, home, small_spec  # noqa: F401 - fixtures
from typer.testing import CliRunner

from toolkit.review import HumanMark, MarkError, MarkStore, Review


class PlanningGoldServer(GoldServer):
    """The gold answer, and for CoVe's joint plan prompt one verification question with its answer."""

    def reply(self, prompt: str) -> str:
        if "as lines 'Q: ...'" in prompt:
            return "Q: Is that the answer the documents give?\nA: Yes."
        return super().reply(prompt)


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory):
    """A finished run of 2 arms x 12 dev questions in its own TierLab home (no MLflow), shared by the tests."""
    from toolkit.experiments.runner import run_experiment

    home_dir = tmp_path_factory.mktemp("review-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("TIERLAB_HOME", str(home_dir))
    gold = PlanningGoldServer()
    try:
        result = run_experiment(small_spec(gold.url, name="review-unit", sample_size=12), progress=False)
        assert len(result.records) == 24 and not result.errors
        yield result
    finally:
        gold.close()
        mp.undo()


@pytest.fixture
def review(stored_run, tmp_path):
    """A Review of the stored run whose marks go to a fresh copy of the run folder (tests do not share marks)."""
    import shutil

    folder = tmp_path / "run"
    shutil.copytree(stored_run.run_dir, folder)
    return Review(stored_run.model_copy(update={"run_dir": str(folder)}), reviewer="ana")


# --- the store --------------------------------------------------------------------------------------------------
def test_the_newest_mark_of_each_field_stands_and_history_is_kept(tmp_path):
    store = MarkStore(tmp_path)
    store.add(HumanMark(arm="a", question_id="q1", accuracy="correct", hallucination="hallucinated", at="2026-01-01T00:00:00"))
    store.add(HumanMark(arm="a", question_id="q1", hallucination="supported", reviewer="bo", at="2026-01-02T00:00:00"))
    standing = store.current()[("a", "q1")]
    assert (standing.accuracy, standing.hallucination, standing.reviewer) == ("correct", "supported", "bo")
    assert len(store.history()) == 2
    with pytest.raises(ValueError, match="needs accuracy"):
        HumanMark(arm="a", question_id="q1")


def test_a_torn_last_line_is_skipped_and_the_next_mark_appends_cleanly(tmp_path):
    store = MarkStore(tmp_path)
    store.add(HumanMark(arm="a", question_id="q1", accuracy="correct"))
    with store.path.open("a") as handle:
        handle.write('{"arm": "a", "question_id": "q2", "accu')  # a crash mid-write
    with pytest.warns(UserWarning, match="torn last line"):
        assert len(store.history()) == 1
    store.add(HumanMark(arm="a", question_id="q3", accuracy="incorrect"))
    assert [m.question_id for m in store.history()] == ["q1", "q3"]
    assert '"question_id": "q2"' in (tmp_path / "marks.torn").read_text()  # set aside, not lost


def test_the_sample_is_seeded_shared_by_arms_stored_and_extended(tmp_path):
    answered = {"a": [f"q{i}" for i in range(40)], "b": [f"q{i}" for i in range(0, 40, 2)]}
    first = MarkStore(tmp_path / "one").draw_sample(answered, 10, seed=3)
    again = MarkStore(tmp_path / "two").draw_sample(answered, 10, seed=3)
    assert first == again and len(first["a"]) == len(first["b"]) == 10
    assert first["a"] != sorted(first["a"], key=lambda q: int(q[1:]))  # a random order, not the first ten
    assert set(first["b"]) <= set(answered["b"])
    bigger = MarkStore(tmp_path / "one").draw_sample(answered, 15, seed=3)
    assert bigger["a"][:10] == first["a"] and len(bigger["a"]) == 15
    assert MarkStore(tmp_path / "one").sample() == bigger


# --- the Review API on a real stored run ------------------------------------------------------------------------
def test_view_shows_both_arms_with_verification_and_verdicts(review):
    arms = review.arms
    question = review.questions(arms)[0]
    view = review.view(question, arms)
    assert view["question"] and view["gold"] and set(view["arms"]) == set(arms)
    cove_arm = next(a for a in arms if a.endswith("cove_joint"))
    cove = view["arms"][cove_arm]
    assert cove["verification"] and all(len(pair) == 2 for pair in cove["verification"])
    primary = next(iter(review.records[(cove_arm, question)].verdicts))
    assert cove["verdicts"][primary][0] in ("supported", "hallucinated", "abstained", "unknown")
    assert cove["mark"] is None and cove["chunks"] == []  # closed-book CoVe: no chunk was shown


def test_only_the_chunks_the_prompt_showed_are_shown(review):
    from toolkit.records import RetrievedChunk

    record = review.result.records[0]
    chunks = tuple(RetrievedChunk(id=f"c{i}", doc_id="fr", text="x" * 50, score=0.5) for i in range(3))
    answer = record.answer.model_copy(update={"retrieved": chunks,
                                              "details": {"chunks_shown": 2, "max_chunk_chars": 10}})
    shown = Review._arm_view(record.model_copy(update={"answer": answer}), None)
    assert [c[0] for c in shown["chunks"]] == ["c0", "c1"] and shown["chunks"][0][2] == "x" * 10


def test_marks_are_validated_and_nothing_is_stored_on_bad_input(review):
    arm, question = review.arms[0], review.questions(review.arms)[0]
    for kwargs, message in [
        ({"arm": "nope", "question_id": question, "accuracy": "correct"}, "unknown arm nope"),
        ({"arm": arm, "question_id": "nope", "accuracy": "correct"}, "no answer to question 'nope'"),
        ({"arm": arm, "question_id": question, "accuracy": "right"}, "use one of correct, incorrect"),
        ({"arm": arm, "question_id": question, "hallucination": "maybe"}, "supported, hallucinated, abstained"),
        ({"arm": arm, "question_id": question}, "nothing to mark"),
    ]:
        with pytest.raises(MarkError, match=message):
            review.mark(**kwargs)
    assert review.marks.history() == []
    mark = review.mark(arm, question, accuracy="correct", hallucination="supported")
    assert mark.reviewer == "ana" and mark.source == "script"
    assert review.view(question, review.arms)["arms"][arm]["mark"].hallucination == "supported"


def _label_sample(review, size: int, hallucinated_every: int = 4) -> None:
    review.draw_sample(size)
    for arm in review.arms:
        for i, question in enumerate(review.marks.sample()[arm]):
            label = "hallucinated" if i % hallucinated_every == 0 else "supported"
            review.mark(arm, question, hallucination=label, accuracy="correct")


def test_rates_are_judge_only_until_the_sample_is_labelled_then_prediction_powered(review):
    before = review.rates()
    for arm in before.arms:
        assert arm.ppi_rate is None and arm.status.startswith("judge only, uncorrected (no review sample drawn)")
        assert arm.judge_rate is not None and arm.answers == 12
    review.draw_sample(10)
    assert review.progress_text(review.arms[0]) == "0 of 10 labelled"
    _label_sample(review, 10)
    assert review.progress_text(review.arms[0]) == "10 of 10 labelled"
    after = review.rates()
    for arm in after.arms:
        assert arm.labels == 10 and arm.ppi_rate is not None and arm.ppi_rate.n == 10
        assert 0 <= arm.ppi_rate.low <= arm.ppi_rate.value <= arm.ppi_rate.high <= 1
        assert arm.status == "prediction-powered, 10 human labels" and arm.kappa is not None or arm.agreement
    difference = after.differences[0]
    assert difference.labels == 10 and difference.ppi_diff is not None  # the same questions sampled in both arms
    for arm in after.arms:  # every sampled answer was also marked correct: the scorer's accuracy is corrected too
        assert arm.accuracy_labels == 10 and arm.accuracy_ppi is not None and arm.accuracy_scorer is not None
        assert 0 <= arm.accuracy_ppi.low <= arm.accuracy_ppi.value <= arm.accuracy_ppi.high <= 1


def test_marks_outside_the_sample_count_for_agreement_not_for_the_corrected_rate(review):
    review.draw_sample(10)
    outside = [q for q in review.questions(review.arms) if q not in review.marks.sample()[review.arms[0]]]
    for question in outside:
        review.mark(review.arms[0], question, hallucination="hallucinated")
    arm = review.rates().arm(review.arms[0])
    assert arm.labels == 0 and arm.ppi_rate is None and arm.marked == len(outside)


def test_summary_markdown_shows_judge_only_and_prediction_powered_side_by_side(review):
    from toolkit.experiments.report import summary_markdown

    text = summary_markdown(review.result)
    assert "judge only (uncorrected)" in text and "no review sample drawn" in text
    _label_sample(review, 10)
    text = summary_markdown(review.result)
    assert "| 10 of 10 |" in text and "prediction-powered" in text
    assert "Accuracy, automatic scorer vs prediction-powered" in text


# --- the CLI ----------------------------------------------------------------------------------------------------
def test_cli_sample_mark_rates_and_exit_code_2_on_bad_input(review, monkeypatch, tmp_path):
    from toolkit.cli import app

    folder = review.result.run_dir
    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "cli-home"))
    (tmp_path / "cli-home" / "runs").mkdir(parents=True)
    (tmp_path / "cli-home" / "runs" / "copied").symlink_to(folder)
    runner = CliRunner()
    arm = review.arms[0]
    out = runner.invoke(app, ["review", "sample", "copied", "--size", "10"])
    assert out.exit_code == 0, out.output
    assert f"{arm} (0 of 10 labelled):" in out.output
    question = out.output.split(f"{arm} (0 of 10 labelled): ")[1].split()[0]
    out = runner.invoke(app, ["review", "mark", "copied", "--arm", arm, "--question", question,
                              "--hallucination", "hallucinated", "--reviewer", "cy"])
    assert out.exit_code == 0 and "1 of 10 labelled" in out.output, out.output
    bad = runner.invoke(app, ["review", "mark", "copied", "--arm", arm, "--question", question,
                              "--hallucination", "wrong"])
    assert bad.exit_code == 2 and "supported, hallucinated, abstained" in bad.output
    missing = runner.invoke(app, ["review", "rates", "no-such-run"])
    assert missing.exit_code == 2 and "Stored runs:" in missing.output
    untracked = runner.invoke(app, ["review", "sync", "copied"])
    assert untracked.exit_code == 2 and "was not logged to MLflow" in untracked.output
    rates = runner.invoke(app, ["review", "rates", "copied"])
    assert rates.exit_code == 0 and "judge only (uncorrected)" in rates.output
    assert [m.reviewer for m in MarkStore(folder).history()] == ["cy"]


# --- the MLflow mapping, on fake traces ---------------------------------------------------------------------------
def _trace(*assessments):
    return SimpleNamespace(info=SimpleNamespace(trace_id="tr-1", assessments=list(assessments)))


def _feedback(name, value, source_type="HUMAN", metadata=None, assessment_id="a-1", valid=None):
    return SimpleNamespace(name=name, value=value, metadata=metadata, assessment_id=assessment_id, valid=valid,
                           create_time_ms=1_700_000_000_000,
                           source=SimpleNamespace(source_type=source_type, source_id="rev@example.com"))


@pytest.mark.parametrize(("name", "value", "fields"), [
    ("correct", True, {"accuracy": "correct"}),
    ("Correct", "no", {"accuracy": "incorrect"}),
    ("accuracy", "incorrect", {"accuracy": "incorrect"}),
    ("hallucination", "Abstained", {"hallucination": "abstained"}),
    ("hallucinated", True, {"hallucination": "hallucinated"}),
    ("supported", True, {"hallucination": "supported"}),
    ("supported", False, {"hallucination": "hallucinated"}),
    ("relevance", 5, None),
    ("hallucination", "perhaps", None),
])
def test_ui_feedback_names_and_values_map_to_mark_fields(name, value, fields):
    from toolkit.tracking.human import mark_fields

    assert mark_fields(name, value) == fields


def test_pull_reads_only_human_feedback_tierlab_did_not_write_and_not_twice():
    from toolkit.tracking.human import MARK_ID, pull

    traces = {("arm-a", "q1"): _trace(
        _feedback("hallucination", "hallucinated", assessment_id="ui-1"),
        _feedback("correct", False, metadata={MARK_ID: "local-1"}, assessment_id="ours"),  # written by TierLab
        _feedback("hallucinated", True, source_type="CODE", assessment_id="judge"),  # the judge, not a human
        _feedback("correct", True, assessment_id="overridden", valid=False),
    )}
    marks = pull(traces, known=set())
    assert [(m.mark_id, m.hallucination, m.source, m.reviewer) for m in marks] == [
        ("mlflow:ui-1", "hallucinated", "mlflow", "rev@example.com")]
    assert pull(traces, known={"mlflow:ui-1"}) == []
    assert json.loads(marks[0].model_dump_json())["at"].startswith("2023-11-14")


def test_the_judge_card_figure_shown_is_only_one_measured_on_real_answers(review, monkeypatch):
    from toolkit.experiments import rates

    cards = {"templated": {"measured": True, "split": "test", "figures": {"balanced_accuracy": 0.994}},
             "real": {"measured": True, "split": "real_answers_test", "figures": {"balanced_accuracy": 0.61}}}
    for kind, expected in (("templated", None), ("real", 0.61)):
        monkeypatch.setattr(rates, "judge_card", lambda name, card=cards[kind]: card)
        assert review.rates().arms[0].judge_balanced_accuracy == expected
    assert "| 0.61 |" in "\n".join(rates.rates_markdown(review.rates()))


def test_a_mark_made_while_mlflow_is_down_is_stored_and_the_cli_says_how_to_sync(review, monkeypatch, tmp_path):
    from toolkit.cli import app

    folder = review.result.run_dir
    (tmp_path / "cli-home" / "runs").mkdir(parents=True)
    (tmp_path / "cli-home" / "runs" / "copied").symlink_to(folder)
    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "cli-home"))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    (Path(folder) / "tracked.json").write_text(json.dumps(
        {"digest": "x", "uri": "http://127.0.0.1:9", "run_id": "0" * 32}))  # nothing listens on port 9
    arm, question = review.arms[0], review.questions(review.arms)[0]
    out = CliRunner().invoke(app, ["review", "mark", "copied", "--arm", arm, "--question", question,
                                   "--accuracy", "correct"])
    assert out.exit_code == 0, out.output
    assert "MLflow was not updated" in out.output and "tierlab review sync copied" in out.output
    assert [m.accuracy for m in MarkStore(folder).history()] == ["correct"]
