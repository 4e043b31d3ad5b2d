"""`tierlab judge eval`: output formats, bad input, the templated set's build and regression figures."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import rag_corpus
from toolkit.cli import app
from toolkit.judges.base import Verdict
from toolkit.judges.card import card_figures

JUDGE_DIR = rag_corpus.ROOT / "judge"
FIXTURE = Path(__file__).parent / "fixtures" / "judge_handwritten.jsonl"
runner = CliRunner()

ITEMS = [
    {"question": "What is the capital of France?", "answer": "Paris.", "label": "supported", "gold": ["Paris"]},
    {"question": "What is the capital of France?", "answer": "Lyon.", "label": "hallucinated", "gold": ["Paris"]},
    {"question": "What is the capital of France?", "answer": "I don't know.", "label": "abstained"},
    {"question": "What is the capital of France?", "answer": "Marseille", "label": "hallucinated",
     "context": "### Capital\n\n- name: Paris"},
]


def write(tmp_path: Path, lines: list, name: str = "set.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


def test_figures_by_hand():
    verdicts = [Verdict(judge="j", hallucinated=h, abstained=a, unknown=u)
                for h, a, u in ((True, False, False), (False, False, False), (False, False, False),
                                (True, False, False), (False, True, False), (False, False, True))]
    labels = ["hallucinated", "hallucinated", "supported", "supported", "abstained", "supported"]
    f = card_figures(labels, verdicts)
    assert (f["detected"], f["false_alarm"], f["abstention_accuracy"], f["unknown"]) == (0.5, 0.5, 1.0, 1)
    assert f["balanced_accuracy"] == 0.5 and f["n"] == 6 and (f["detected_n"], f["false_alarm_n"]) == (2, 2)
    low, high = f["detected_ci"]
    assert low < 0.5 < high and high - low > 0.5  # Wilson at n=2 is wide
    assert f["balanced_accuracy_ci"][0] <= 0.5 <= f["balanced_accuracy_ci"][1]
    every = card_figures(["hallucinated"] * 3 + ["supported"] * 2, [Verdict(judge="j", hallucinated=True)] * 5)
    low, high = every["balanced_accuracy_ci"]  # flags everything: 0.5, and an interval, not a point
    assert every["balanced_accuracy"] == 0.5 and low < 0.5 - 0.1 and high > 0.5 + 0.1


def test_table_and_json_lines(tmp_path):
    path = write(tmp_path, ITEMS)
    table = runner.invoke(app, ["judge", "eval", str(path), "--judge", "claims"])
    assert table.exit_code == 0, table.output
    assert "judge claims" in table.output and "balanced_acc" in table.output and "context_only" in table.output
    result = runner.invoke(app, ["judge", "eval", str(path), "--json", "--judge", "claims", "--judge", "llm",
                                 "--model", "nonexistent-model-id"])
    assert result.exit_code != 0  # an unknown catalog id fails loudly
    result = runner.invoke(app, ["judge", "eval", str(path), "--json", "--judge", "claims"])
    lines = result.stdout.strip().splitlines()
    assert result.exit_code == 0 and len(lines) == 1
    row = json.loads(lines[-1])
    assert (row["judge"], row["set"], row["n"], row["balanced_accuracy"], row["false_alarm"]) == (
        "claims", str(path), 4, 1.0, 0.0)
    assert row["abstention_accuracy"] == 1.0 and row["unknown"] == 0 and row["false_alarm_ci"][1] < 1.0
    assert set(row["settings"]) == {"gold_only", "context_only", "neither"}


@pytest.mark.parametrize("lines, message", [
    ([{"question": "q", "answer": "a"}], 'line 1: missing field "label"'),
    ([ITEMS[0], {"question": "q", "answer": "a", "label": "wrong"}], "line 2: field \"label\" is 'wrong'"),
    ([ITEMS[0], "{not json"], "line 2: not a JSON object"),
    ([{"question": "q", "answer": "a", "label": "supported", "gold": "Paris"}], 'field "gold" must be a list'),
    ([], "no labelled items (the file is empty)"),
])
def test_bad_input_is_one_clear_error_with_exit_code_2(tmp_path, lines, message):
    path = write(tmp_path, lines)
    result = runner.invoke(app, ["judge", "eval", str(path)])
    assert result.exit_code == 2 and message in result.output and str(path) in result.output
    assert "Traceback" not in result.output


def test_non_utf8_and_unknown_judge(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(ITEMS[0]).encode() + b"\n" + '{"question": "caf\xe9"}'.encode("latin-1") + b"\n")
    result = runner.invoke(app, ["judge", "eval", str(path)])
    assert result.exit_code == 2 and f"{path}, line 2: not UTF-8" in result.output
    result = runner.invoke(app, ["judge", "eval", str(write(tmp_path, ITEMS)), "--judge", "claim"])
    assert result.exit_code == 2 and "Did you mean 'claims'" in result.output


def test_labelled_set_rebuilds_byte_identical_and_is_balanced(tmp_path):
    subprocess.run([sys.executable, str(JUDGE_DIR / "build.py"), str(tmp_path)], check=True, capture_output=True)
    for split in ("dev", "test"):
        assert (tmp_path / f"{split}.jsonl").read_bytes() == (JUDGE_DIR / f"{split}.jsonl").read_bytes()
    rows = [json.loads(line) for line in (JUDGE_DIR / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    labels = [r["label"] for r in rows]
    assert len(rows) >= 600
    assert 0.35 <= labels.count("hallucinated") / len(rows) <= 0.55
    assert 0.35 <= labels.count("supported") / len(rows) <= 0.55
    assert labels.count("abstained") >= 60
    modes = {(bool(r.get("gold")), bool(r.get("context"))) for r in rows}
    assert modes == {(True, False), (False, True), (True, True)}
    dev = {r["answer"] for r in map(json.loads, (JUDGE_DIR / "dev.jsonl").read_text(encoding="utf-8").splitlines())
           if r["label"] == "abstained"}
    assert not dev & {r["answer"] for r in rows if r["label"] == "abstained"}  # test phrasings differ from dev


def _eval_json(path: Path, judge: str = "claims") -> dict:
    result = runner.invoke(app, ["judge", "eval", str(path), "--json", "--judge", judge])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])  # stderr may carry model-loading noise


def test_the_templated_set_is_a_regression_test_on_no_card(tmp_path):
    """The claim rules still pass their own templated test split; recording it on a card is refused."""
    row = _eval_json(JUDGE_DIR / "test.jsonl")
    assert row["balanced_accuracy"] >= 0.90 and row["false_alarm"] <= 0.05 and row["abstention_accuracy"] == 1.0
    refused = runner.invoke(app, ["judge", "eval", str(JUDGE_DIR / "test.jsonl"), "--record",
                                  "--card-file", str(tmp_path / "cards.json")])
    assert refused.exit_code == 2 and "regression test, on no card" in refused.output
    assert not (tmp_path / "cards.json").exists()


def test_hand_written_answers():
    """Realistic replies phrased unlike the generator: a regression check of the claim rules."""
    row = _eval_json(FIXTURE)
    assert row["n"] >= 40 and row["abstention_accuracy"] == 1.0 and row["balanced_accuracy"] >= 0.8


def test_external_style_answers():
    """HaluEval-QA-style replies written for claims-v4's failure categories (measured before the fixes: balanced
    accuracy 0.561, abstention 0.600, 10 unknown); a regression check of the claim rules."""
    row = _eval_json(FIXTURE.with_name("judge_external_style.jsonl"))
    assert row["n"] >= 60 and row["abstention_accuracy"] == 1.0
    assert row["balanced_accuracy"] >= 0.9 and row["false_alarm"] <= 0.1
