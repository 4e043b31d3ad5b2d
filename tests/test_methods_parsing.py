"""Parsers for model output: lists, verification questions, Q/A pairs, numbered answers, verdicts."""

import pytest

from toolkit.methods.parsing import (
    answer_verdict,
    cut_echo,
    is_abstention,
    mentions,
    parse_list,
    parse_numbered_answers,
    parse_qa_pairs,
    parse_questions,
    parse_verdict,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("France, Spain, and Andorra", ["France", "Spain", "Andorra"]),
        ("France, Spain and Andorra.", ["France", "Spain", "Andorra"]),
        ("- France\n- Spain\n* Andorra", ["France", "Spain", "Andorra"]),
        ("1. France\n2) Spain\n3. Andorra", ["France", "Spain", "Andorra"]),
        ('["France", "Spain"]', ["France", "Spain"]),
        ("The countries are: France; Spain", ["France", "Spain"]),
        ("Here are the countries:\nFrance\nSpain", ["France", "Spain"]),
        ("France [c1], Spain [c2, c3]", ["France", "Spain"]),
        ("France, france, FRANCE", ["France"]),
        ("Croatia, Bosnia and Herzegovina, Serbia", ["Croatia", "Bosnia and Herzegovina", "Serbia"]),
        ("I don't know.", []),
        ("", []),
        ("None", []),
        ("The countries bordering Peru are Chile, Bolivia, and Ecuador.", ["Chile", "Bolivia", "Ecuador"]),
        ("### Spain\n### Portugal", ["Spain", "Portugal"]),
    ],
)
def test_parse_list(text, expected):
    assert parse_list(text) == expected


def test_parse_list_keeps_names_given_by_caller():
    assert parse_list("Foo and Bar, Baz", keep=("Foo and Bar",)) == ["Foo and Bar", "Baz"]
    assert parse_list("Foo and Bar, Baz") == ["Foo", "Bar", "Baz"]


def test_parse_list_drops_sentences_but_keeps_items():
    text = "Germany, Poland, and this is a long sentence that is clearly not a country name at all"
    assert parse_list(text) == ["Germany", "Poland"]


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
    assert is_abstention("I don't know.") and is_abstention("That is not stated in the chunks.")
    assert not is_abstention("Paris [c1].")


def test_answer_verdict_and_cut_echo():
    assert answer_verdict("No, it does not.") == "inconsistent" and answer_verdict("Yes.") == "consistent"
    assert answer_verdict("Paris.") == "unknown" and answer_verdict("Nobody knows") == "unknown"
    assert cut_echo("Saturn\nQ: Does Mars have rings?\nA: No.") == "Saturn"
    assert cut_echo("Line one.\nLine two.") == "Line one.\nLine two."
    assert cut_echo("Check: CONSISTENT") == ""
