"""Judge cards: `tierlab judge eval` on a small real-answer file, recording only the card sets, intervals, and the
committed card behind the README table and MLflow."""

import json

import pytest
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.judges import judge_card
from toolkit.judges.card import CARD_FILE, CARD_SETS, readme_block
from toolkit.judges.detector import load

runner = CliRunner()
FRANCE = "### Capital\n\n- name: Paris\n\n### Population\n\n68,374,591 (2024 est.)"


def real(i: int, answer: str, label: str, method: str = "rag", kind: str = "short", gold=("Paris",), context=FRANCE,
         question: str = "What is the capital of France?") -> dict:
    """One line in the real-answer contract (rag_corpus/real_answers/, LABELS_FORMAT)."""
    return {"id": f"q{i}:smollm2:{method}", "question_id": f"q{i}", "split": "test",
            "model": "local/smollm2-135m-instruct", "engine": "vllm-ray-serve", "method": method,
            "question": question, "kind": kind, "gold": list(gold), "tolerance": None, "doc_ids": ["fr"],
            "context": context if method.startswith("rag") else "", "answer": answer, "label": label,
            "accuracy": "correct" if label == "supported" else "incorrect", "rationale": "by reading"}


ROWS = [
    real(1, "The capital of France is Paris.", "supported"),
    real(2, "The capital of France is Lyon.", "hallucinated"),
    real(3, "Paris.", "supported", method="closed_book"),
    real(4, "Marseille is the capital of France.", "hallucinated", method="closed_book"),
    real(5, "I don't know.", "abstained", method="closed_book"),
    real(6, "The national dish of France is coq au vin.", "hallucinated", kind="unanswerable", gold=(),
         question="What is the national dish of France?"),
    real(7, "The chunks do not say.", "abstained", kind="unanswerable", gold=(),
         question="What is the national dish of France?"),
    real(8, "France has about 68.4 million people.", "supported", kind="numeric", gold=("68,374,591",),
         question="What is the population of France?"),
    real(9, "France has about 12 million people.", "hallucinated", kind="numeric", gold=("68,374,591",),
         question="What is the population of France?"),
]


@pytest.fixture
def real_file(tmp_path):
    path = tmp_path / "test.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    return path


def test_judge_eval_on_a_small_real_answer_file(real_file):
    result = runner.invoke(app, ["judge", "eval", str(real_file), "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert (row["judge"], row["version"], row["n"]) == ("offline", load().version, 9)
    assert (row["detected_n"], row["false_alarm_n"], row["abstention_n"]) == (4, 3, 2)
    assert row["detected"] == 1.0 and row["false_alarm"] == 0.0 and row["abstention_accuracy"] == 1.0
    assert row["false_alarm_ci"][0] == 0.0 and 0.3 < row["false_alarm_ci"][1] < 0.8  # Wilson at n=3
    assert set(row["settings"]) == {"gold_only", "gold_and_context", "context_only"}
    assert row["settings"]["context_only"]["n"] == 2  # the unanswerable question's RAG answers: no gold


def test_only_the_card_sets_are_recorded_with_n_and_intervals(real_file, tmp_path, monkeypatch):
    cards = tmp_path / "cards.json"
    refused = runner.invoke(app, ["judge", "eval", str(real_file), "--record", "--card-file", str(cards)])
    assert refused.exit_code == 2 and "only the card sets go on a judge card" in refused.output
    monkeypatch.setitem(CARD_SETS, "real_answers_test", str(real_file))  # this file stands for the test split
    for labelled in (str(real_file), "halueval:card"):
        done = runner.invoke(app, ["judge", "eval", labelled, "--judge", "claims", "--limit", "12", "--record",
                                   "--card-file", str(cards)])
        assert done.exit_code == 0, done.output
    card = judge_card("claims", path=cards)
    assert card["sets"]["real_answers_test"]["source"] == str(real_file)  # outside the repository: as given
    assert card["measured"] and card["split"] == "real_answers_test" and card["figures"]["n"] == 9
    halueval = card["sets"]["halueval_card"]
    assert halueval["limit"] == 12 and halueval["overall"]["n"] == 12 and halueval["source"] == "halueval:card"
    assert set(halueval["settings"]) == {"context_only", "gold_only", "gold_and_context"}
    assert not judge_card("offline", path=cards)["measured"] and judge_card("rules", path=cards)["name"] == "offline"
    assert "| `claims` (claims-v4) | halueval_card (first 12) | all | 12 |" in readme_block(cards)


def test_the_committed_card_is_the_shipped_judge_and_the_readme_shows_it():
    """The default judge's card is measured with the detector that ships, on both card sets; the README's judge
    table is rendered from the same file (`tierlab judge card --readme README.md`)."""
    from toolkit.judges.card import README_START

    card = judge_card("offline")
    assert card["version"] == load().version
    assert set(card["sets"]) >= {"halueval_card"}
    assert card["measured"] and card["figures"]["n"] >= 150  # the whole real-answer test split
    assert card["sets"]["halueval_card"]["overall"]["n"] == 15000  # the whole card part: 2,500 lines x 6 items
    assert all(entry["limit"] is None for entry in card["sets"].values())
    # a repository path, never the machine the card was recorded on
    assert {entry["source"] for entry in card["sets"].values()} == {"rag_corpus/real_answers/test.jsonl",
                                                                   "halueval:card"}
    readme = (CARD_FILE.parents[2] / "README.md").read_text(encoding="utf-8")
    assert README_START in readme and readme_block() in readme


def test_the_exported_trees_score_exactly_as_scikit_learn():
    """The JSON the judge ships is the fitted model: same probabilities, no ML library at inference."""
    import numpy as np
    from sklearn.ensemble import GradientBoostingClassifier

    from toolkit.judges.detector import Ensemble
    from toolkit.judges.train import export

    rng = np.random.default_rng(0)
    x = rng.random((300, 4))
    y = x[:, 0] + 0.3 * rng.random(300) > 0.6
    model = GradientBoostingClassifier(n_estimators=20, max_depth=2, random_state=0).fit(x, y)
    trees, init = export(model)
    ensemble = Ensemble({"version": "t", "features": ["a", "b", "c", "d"], "threshold": 0.5, "init": init,
                         "learning_rate": model.learning_rate, "trees": trees})
    ours = [ensemble.probability(list(row)) for row in x[:50]]
    assert np.allclose(ours, model.predict_proba(x[:50])[:, 1], atol=1e-5)
