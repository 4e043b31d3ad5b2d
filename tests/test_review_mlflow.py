"""Human marks and MLflow, against a real ``mlflow server`` on 127.0.0.1 (conftest, stopped by PID): marks made
through TierLab's API become HUMAN assessments on the answers' traces; feedback added through MLflow's API as the
UI's "Add feedback" does is read back as marks; both feed the corrected rates logged to the arm runs."""

import pytest
from review_run import SPEC, log_review_run

pytestmark = pytest.mark.slow


def _human(trace) -> dict[str, list]:
    found: dict[str, list] = {}
    for assessment in trace.info.assessments:
        if assessment.source.source_type == "HUMAN":
            found.setdefault(assessment.name, []).append((assessment.value, assessment.source.source_id))
    return found


def test_marks_round_trip_through_mlflow(mlflow_server, tmp_path, monkeypatch):
    import mlflow
    import review_run
    from mlflow import MlflowClient
    from mlflow.entities import AssessmentSource, AssessmentSourceType

    from toolkit.review import Review
    from toolkit.tracking import human

    monkeypatch.setattr(review_run, "SPEC", SPEC.replace("sample_size: 3", "sample_size: 12")
                        .replace("  - name: cove_joint\n    options: {max_verification_questions: 2}\n", ""))
    result = log_review_run(mlflow_server, monkeypatch, tmp_path / "home", name="review-marks-e2e")
    assert len(result.records) == 12
    review = Review(result, reviewer="ana@example.com", source="notebook")
    assert review.tracking() == (mlflow_server, result.mlflow_run_id)
    arm = review.arms[0]

    # 1. the API marks ten answers of the random sample: each is a HUMAN assessment on its trace
    sample = review.draw_sample(10)[arm]
    for i, question in enumerate(sample):
        review.mark(arm, question, accuracy="incorrect" if i < 3 else "correct",
                    hallucination="hallucinated" if i < 3 else "supported")
    traces = human.answer_traces(result.mlflow_run_id, tracking_uri=mlflow_server)
    first = _human(traces[(arm, sample[0])])
    assert first == {"correct": [(False, "ana@example.com")], "hallucination": [("hallucinated", "ana@example.com")]}
    assert sum(bool(_human(traces[(arm, q)])) for q in sample) == 10

    # 2. a reviewer adds feedback in the MLflow UI on an answer outside the sample (HUMAN source, no TierLab metadata)
    other = next(q for q in review.questions([arm]) if q not in sample)
    mlflow.set_tracking_uri(mlflow_server)
    mlflow.log_feedback(trace_id=traces[(arm, other)].info.trace_id, name="hallucination", value="hallucinated",
                        source=AssessmentSource(AssessmentSourceType.HUMAN, "bo@example.com"))
    report = review.sync()
    assert report.pushed == 0 and [(m.question_id, m.source, m.reviewer) for m in report.pulled] == [
        (other, "mlflow", "bo@example.com")]
    assert review.marks.current()[(arm, other)].hallucination == "hallucinated"
    again = review.sync()  # idempotent both ways
    assert again.pushed == 0 and again.pulled == []

    # 3. the corrected rates on the arm run: judge only, prediction-powered with bounds, labels and kappa
    rates = review.rates().arm(arm)
    assert rates.labels == 10 and rates.marked == 11 and rates.ppi_rate is not None
    client = MlflowClient(tracking_uri=mlflow_server)
    runs = client.search_runs([client.get_run(result.mlflow_run_id).info.experiment_id],
                              f"tags.`mlflow.parentRunId` = '{result.mlflow_run_id}'")
    metrics = runs[0].data.metrics
    assert metrics["hallucination/human_labels_n"] == 10
    assert metrics["hallucination/rate_judge"] == pytest.approx(rates.judge_rate.value)
    assert metrics["hallucination/rate_ppi"] == pytest.approx(rates.ppi_rate.value)
    assert metrics["hallucination/rate_ppi_ci_low"] <= metrics["hallucination/rate_ppi"] <= \
        metrics["hallucination/rate_ppi_ci_high"]
    assert metrics["quality/accuracy_human_labels_n"] == 10
    assert metrics["quality/accuracy_ppi"] == pytest.approx(rates.accuracy_ppi.value)
