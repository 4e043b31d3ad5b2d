"""Parsers for CoVe step outputs: verification questions, Q/A pairs, numbered answers, verdicts."""

import pytest

from toolkit.methods.parsing import (
    answer_verdict,
    cut_echo,
    mentions,
    parse_numbered_answers,
    parse_qa_pairs,
    parse_questions,
    parse_verdict,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1. Is Paris in France?\n2. Is Rome in Italy?", ["Is Paris in France?", "Is Rome in Italy?"]),
        ("- Is Paris in France?\n* Is Rome in Italy?", ["Is Paris in France?", "Is Rome in Italy?"]),
        ("Q1: Is Paris in France?\nQuestion 2: Is Rome in Italy?", ["Is Paris in France?", "Is Rome in Italy?"]),
        ('["Is Paris in France?", "Is Rome in Italy?"]', ["Is Paris in France?", "Is Rome in Italy?"]),
        ("Is Paris in France? Is Rome in Italy?", ["Is Paris in France?", "Is Rome in Italy?"]),
        ("Is Paris in France?\nI hope these questions help you verify the answer.", ["Is Paris in France?"]),
        ("Verification questions:\n1. Is Paris in France?\n1. Is Paris in France?", ["Is Paris in France?"]),
        ("The answer looks right to me.", []),
        ("", []),
    ],
)
def test_parse_questions(text, expected):
    assert parse_questions(text) == expected


def test_parse_questions_limit():
    assert parse_questions("A one?\nB two?\nC three?", limit=2) == ["A one?", "B two?"]


def test_parse_qa_pairs_formats():
    text = "Q1: Is Paris in France?\nA1: Yes.\nQuestion: Is Rome in Spain?\nAnswer: No, Italy.\n2. Is Oslo cold? Yes, often."
    assert parse_qa_pairs(text) == [
        ("Is Paris in France?", "Yes."),
        ("Is Rome in Spain?", "No, Italy."),
        ("Is Oslo cold?", "Yes, often."),
    ]
    assert parse_qa_pairs("Q: Is it?\nsomething on the next line") == [("Is it?", "something on the next line")]
    assert parse_qa_pairs("no questions here") == []


def test_parse_numbered_answers():
    assert parse_numbered_answers("1. Yes.\n2. No.\n3. Maybe.", 3) == ["Yes.", "No.", "Maybe."]
    assert parse_numbered_answers("2. No.\n1. Yes.", 3) == ["Yes.", "No.", ""]
    assert parse_numbered_answers("Yes.\nNo.", 3) == ["Yes.", "No.", ""]
    assert parse_numbered_answers("Answer 1: Paris", 1) == ["Paris"]


def test_parse_verdict_and_helpers():
    assert parse_verdict("INCONSISTENT: no border") == "inconsistent"
    assert parse_verdict("Consistent.") == "consistent"
    assert parse_verdict("It is not consistent") == "inconsistent"
    assert parse_verdict("blah") == "unknown"
    assert parse_verdict("No, the original answer does not match the verification answer.") == "inconsistent"
    assert parse_verdict("CONSISTENT: the answer lists Germany, but does not include Austria.") == "consistent"
    assert parse_verdict("Yes, they agree.") == "consistent"
    assert mentions("Niger", "Chad, Niger") and not mentions("Niger", "Nigeria") and not mentions("", "x")


def test_answer_verdict_and_cut_echo():
    assert answer_verdict("No, it does not.") == "inconsistent" and answer_verdict("Yes.") == "consistent"
    assert answer_verdict("Paris.") == "unknown" and answer_verdict("Nobody knows") == "unknown"
    assert cut_echo("Saturn\nQ: Does Mars have rings?\nA: No.") == "Saturn"
    assert cut_echo("Line one.\nLine two.") == "Line one.\nLine two."
    assert cut_echo("Check: CONSISTENT") == ""
