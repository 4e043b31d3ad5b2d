"""The reference evidence (the question's source document) the offline judge reads beside the gold and the chunks:
built in one place for runs and for labelled sets, and cues that tell a true side remark from an invented one."""

import json

from toolkit.judges import JudgeInput, judge_input
from toolkit.judges.detector import judge_offline, load, setting_key
from toolkit.judges.evidence import document, reference
from toolkit.judges.features import NAMES, features
from toolkit.judges.metaeval import load_labelled
from toolkit.records import Answer, Question


def test_the_reference_is_the_question_s_factbook_document_in_runs_and_in_labelled_sets(tmp_path):
    france = document("fr")
    assert "Paris" in france and "Western Europe" in france
    question = Question(id="capital-fr", question="What is the capital of France?", kind="short", answers=("Paris",),
                        doc_ids=("fr",), dataset="factbook")
    assert judge_input(question, Answer(text="Paris.", method="closed_book")).reference == france
    row = {"question": question.question, "answer": "Paris.", "label": "supported", "gold": ["Paris"], "doc_ids": ["fr"]}
    path = tmp_path / "labelled.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    assert load_labelled(path)[0][0].reference == france


def test_no_reference_without_a_factbook_document_and_a_shipped_context_wins():
    assert reference(("fr",), dataset="squad") == ""  # another dataset's ids are not Factbook pages
    assert reference(("no-such-doc",)) == "" and reference(("../fr",)) == ""
    assert reference(("fr",), dataset="squad", context="Gold passage.") == "Gold passage."


def _cues(answer: str, ref: str) -> dict[str, float]:
    item = JudgeInput(question="What is the capital of France?", answer=answer, gold=("Paris",), kind="short",
                      reference=ref)
    return dict(zip(NAMES, features(item), strict=True))


def test_a_true_side_remark_is_backed_by_the_reference_and_an_invented_one_is_not():
    france = document("fr")
    true_remark = _cues("Paris. France is located in Western Europe.", france)
    invented = _cues("Paris. France is located in Southern Africa near Lesotho.", france)
    assert true_remark["has_reference"] == 1.0 and true_remark["side_claims"] == 0.5
    assert true_remark["side_claim_min_backed"] > invented["side_claim_min_backed"]
    assert true_remark["side_names_missing_reference"] == 0.0 < invented["side_names_missing_reference"]
    missing = _cues("Paris. France is located in Western Europe.", "")
    assert missing["has_reference"] == 0.0 and missing["side_claim_min_backed"] == 0.0


def test_the_reference_never_rescues_the_answer_itself():
    """A wrong answer is often a name the document holds ("Lyon" is a French city): only side remarks are read
    against the reference, so the answer's cues are those of the gold and the context."""
    france = document("fr")
    for answer in ("Lyon.", "The capital of France is Lyon."):
        cues = _cues(answer, france)
        assert cues["side_claims"] == 0.0 and cues["side_claim_min_backed"] == 1.0
        item = JudgeInput(question="What is the capital of France?", answer=answer, gold=("Paris",), kind="short",
                          reference=france)
        assert judge_offline(item).hallucinated, answer


def test_each_evidence_setting_has_its_own_threshold():
    item = JudgeInput(question="What is the capital of France?", answer="Lyon.", gold=("Paris",), kind="short",
                      reference=document("fr"))
    x = features(item)
    assert setting_key(x) == "reference/gold_only"
    assert setting_key(features(item.model_copy(update={"reference": "", "gold": (), "context": "Paris is the capital."}))) \
        == "no_reference/context_only"
    assert set(load().thresholds) >= {"reference/gold_only", "reference/gold_and_context", "no_reference/context_only"}
    verdict = judge_offline(item)
    assert verdict.hallucinated and f"vs {load().thresholds['reference/gold_only']:.2f}" in verdict.reason
