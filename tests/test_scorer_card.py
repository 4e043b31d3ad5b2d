"""The scorer card: agreement of the accuracy scorer with readers' labels, per kind, with n and Wilson intervals,
measured by `tierlab metrics eval` (the real command, in a subprocess) and logged to MLflow with every run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scipy import stats

from toolkit.metrics.card import agreement, load_labelled_answers, scorer_card

ROWS = [  # (question, kind, gold, tolerance, answer, reader's accuracy label)
    ("What is the capital of France?", "short", ["Paris"], None, "The capital of France is Paris.", "correct"),
    ("What is the capital of France?", "short", ["Paris"], None, "Paris. Or maybe Lyon.", "incorrect"),
    ("What is the capital of France?", "short", ["Paris"], None, "Paris or Lyon.", "correct"),  # a mislabel
    ("What is the estimated population of Germany?", "numeric", ["84,012,284"], 0.1, "about 84M", "correct"),
    ("Which countries border Spain?", "list", ["Andorra", "France", "Gibraltar", "Portugal", "Morocco"], None,
     "France, Portugal, Andorra", "incorrect"),  # partial list: a reader's "incorrect"
    ("What is the national dish of France?", "unanswerable", [], None, "I don't know.", "correct"),
]


def _write(path: Path, rows=ROWS) -> Path:
    lines = [json.dumps({"id": f"i{n}", "question_id": f"q{n}", "split": "dev", "question": q, "kind": k, "gold": g,
                         "tolerance": t, "answer": a, "label": "supported", "accuracy": acc})
             for n, (q, k, g, t, a, acc) in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _tierlab(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-c", "from toolkit.cli import app; app()", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_agreement_per_kind_with_wilson_intervals(tmp_path):
    figures, misses = agreement(load_labelled_answers(_write(tmp_path / "dev.jsonl")))
    assert (figures["short"]["n"], figures["short"]["agree"]) == (3, 2)
    assert [m[0].answer for m in misses] == ["Paris or Lyon."]  # the scorer refuses a hedge the label accepted
    assert figures["all"]["n"] == 6 and figures["all"]["agree"] == 5
    assert figures["list"]["agree"] == 1 and figures["numeric"]["agree"] == 1 and figures["unanswerable"]["agree"] == 1
    wilson = stats.binomtest(5, 6).proportion_ci(method="wilson")
    assert figures["all"]["low"] == pytest.approx(wilson.low, abs=1e-4)
    assert figures["all"]["high"] == pytest.approx(wilson.high, abs=1e-4)


def test_metrics_eval_records_the_card_and_mlflow_reads_it(tmp_path):
    data, card = _write(tmp_path / "test.jsonl"), tmp_path / "card.json"
    done = _tierlab("metrics", "eval", str(data), "--record", "--card", str(card), "--show", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "short" in done.stdout and "0.667" in done.stdout and "labelled correct, scored incorrect" in done.stdout
    written = scorer_card("test", card)
    assert written["measured"] and written["current"] and written["kinds"]["all"]["n"] == 6
    assert not scorer_card("test", tmp_path / "missing.json")["measured"]

    from toolkit.tracking.runs import _scorer

    logged = _scorer(written)
    assert logged["metrics"]["scorer/agreement_short"] == pytest.approx(2 / 3, abs=1e-4)
    assert logged["params"]["ci/scorer/agreement_all"].endswith("n=6") and logged["params"]["scorer.card_current"]


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"question": "Q?", "kind": "short", "gold": ["x"], "answer": "x"}', 'line 1: field "accuracy" must be a string'),
        ('{"question": "Q?", "kind": "short", "answer": "x", "accuracy": "right"}', 'field "accuracy" is \'right\''),
        ('{"question": "Q?", "kind": "essay", "answer": "x", "accuracy": "correct"}', 'field "kind" is \'essay\''),
        ("not json", "line 1: not a JSON object"),
    ],
)
def test_bad_labelled_files_exit_2_naming_line_and_field_and_write_nothing(tmp_path, line, message):
    bad, card = tmp_path / "bad.jsonl", tmp_path / "card.json"
    bad.write_text(line + "\n", encoding="utf-8")
    done = _tierlab("metrics", "eval", str(bad), "--record", "--card", str(card), cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert not card.exists()


def test_the_committed_card_is_what_the_shipped_labelled_set_gives():
    from toolkit.metrics.card import REAL_ANSWERS_DIR

    for split in ("dev", "test"):
        figures, _ = agreement(load_labelled_answers(REAL_ANSWERS_DIR / f"{split}.jsonl"))
        card = scorer_card(split)
        assert card["current"] and card["kinds"] == figures, "the card is stale: run `tierlab metrics eval --record`"


def test_the_readme_shows_the_committed_card(tmp_path):
    from toolkit.metrics.card import readme_block

    readme = Path(__file__).resolve().parents[1] / "README.md"
    assert readme_block() in readme.read_text(encoding="utf-8"), "run `tierlab metrics card --readme README.md`"
    plain = tmp_path / "README.md"
    plain.write_text("no table here\n", encoding="utf-8")
    done = _tierlab("metrics", "card", "--readme", str(plain), cwd=tmp_path)
    assert done.returncode == 2 and "no <!-- scorer-card:start -->" in done.stderr
    assert plain.read_text(encoding="utf-8") == "no table here\n"
