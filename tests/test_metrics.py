"""Metrics and the hallucination definition on hand-made cases with hand-computed answers (statistics: test_stats.py)."""

import pytest

from toolkit.extraction import is_abstention, quantities
from toolkit.metrics import METRICS, score
from toolkit.records import Answer, Question, RetrievedChunk
from toolkit.registry import UnknownNameError

CAPITAL = Question(id="c", question="What is the capital of France?", kind="short", answers=("Paris",))
BORDERS = Question(
    id="b",
    question="Which countries border Spain?",
    kind="list",
    answers=("Andorra", "France", "Gibraltar", "Portugal", "Morocco"),
)
AREA = Question(
    id="a",
    question="What is the total area of France?",
    kind="numeric",
    answers=("643,801 sq km",),
    tolerance=0.05,
)
DISH = Question(id="d", question="What is the national dish of France?", kind="unanswerable")


def ans(text: str, *chunks: str) -> Answer:
    retrieved = tuple(
        RetrievedChunk(id=f"c{i}", doc_id="fr", text=t, score=0.9) for i, t in enumerate(chunks)
    )
    return Answer(text=text, method="test", retrieved=retrieved)


def test_exact_match_and_token_f1_follow_squad_normalisation():
    assert METRICS.get("exact_match")(CAPITAL, ans("paris.")) == 1.0
    assert METRICS.get("exact_match")(CAPITAL, ans("The capital is Paris.")) == 1.0  # extracted first
    assert METRICS.get("exact_match")(CAPITAL, ans("Paris, France")) == 0.0
    assert METRICS.get("contains_match")(CAPITAL, ans("The capital is Paris.")) == 1.0
    assert METRICS.get("contains_match")(CAPITAL, ans("Parisian food")) == 0.0  # token boundaries
    # "Paris, France" vs "Paris": precision 1/2, recall 1 -> F1 = 2/3
    assert METRICS.get("token_f1")(CAPITAL, ans("Paris, France")) == pytest.approx(2 / 3)
    assert METRICS.get("token_f1")(CAPITAL, ans("Lyon")) == 0.0


def test_numeric_match_uses_the_question_tolerance_and_scale_words():
    assert [q.value for q in quantities("about 1.2 million people and 3,500 km")] == [1_200_000.0, 3500.0]
    match = METRICS.get("numeric_match")
    assert match(AREA, ans("France covers 643,801 sq km.")) == 1.0
    assert match(AREA, ans("Roughly 640,000 km2")) == 1.0  # within 5%
    assert match(AREA, ans("About 0.55 million sq km")) == 0.0  # 14.6% off
    assert match(AREA, ans("I don't know")) == 0.0
    assert match(CAPITAL, ans("643801")) is None  # not a numeric question


def test_list_metrics_are_the_cove_paper_definitions():
    # 4 listed, 3 of them gold -> precision 3/4; 3 of 5 gold covered -> recall 3/5
    answer = ans("1. France\n2. Portugal\n3. Italy\n4. Andorra")
    assert METRICS.get("list_precision")(BORDERS, answer) == pytest.approx(0.75)
    assert METRICS.get("list_recall")(BORDERS, answer) == pytest.approx(0.6)
    assert METRICS.get("list_f1")(BORDERS, answer) == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert METRICS.get("list_precision")(BORDERS, ans("I don't know")) == 0.0
    assert METRICS.get("list_precision")(CAPITAL, answer) is None


def test_abstention_and_accuracy_per_kind():
    assert is_abstention("I don't know.") and is_abstention("") and not is_abstention("Paris")
    assert METRICS.get("abstention")(DISH, ans("I do not know.")) == 1.0
    assert METRICS.get("abstention")(DISH, ans("Croissants.")) == 0.0
    accuracy = METRICS.get("accuracy")
    assert accuracy(DISH, ans("I don't know")) == 1.0
    assert accuracy(BORDERS, ans("France, Portugal, Andorra")) == 0.0  # partial (F1 0.75): a reader's "incorrect"
    assert accuracy(BORDERS, ans("France, Portugal, Andorra, Gibraltar, Morocco")) == 1.0
    assert accuracy(BORDERS, ans("France, Portugal, Andorra, Gibraltar, Morocco, Italy")) == 0.0  # one too many
    assert accuracy(BORDERS, ans("France, Italy, Greece")) == 0.0  # F1 = 0.25
    assert score(CAPITAL, ans("Paris"), ["accuracy", "list_f1"]) == {"accuracy": 1.0, "list_f1": None}
    with pytest.raises(UnknownNameError, match="accuracy"):
        METRICS.get("acuracy")


AUSTRALIA = Question(id="cap-as", question="What is the capital of Australia?", kind="short", answers=("Canberra",))
MELBOURNE = Question(id="m", question="Which city hosted the 1956 Olympics?", kind="short", answers=("Melbourne",))
LARGER = Question(id="l", question="Which is larger by area, Mexico or the United States?", kind="multihop",
                  answers=("United States",))
POPULATION = Question(id="p", question="What is the population of X?", kind="numeric", answers=("390,000",),
                      tolerance=0.1)


@pytest.mark.parametrize("text", ["The USA.", "USA", "the U.S.", "United States of America", "It is the United States."])
def test_an_alias_of_the_gold_answer_is_correct(text):
    assert METRICS.get("accuracy")(LARGER, ans(text)) == 1.0
    assert METRICS.get("exact_match")(LARGER, ans(text)) == 1.0


@pytest.mark.parametrize(
    "question, text, correct",
    [
        (MELBOURNE, "Not Sydney or Canberra; it is Melbourne", 1.0),
        (AUSTRALIA, "Not Sydney or Canberra; it is Melbourne", 0.0),  # Canberra is named, but negated
        (AUSTRALIA, "Sydney or Canberra", 0.0),  # a hedge is correct for neither
        (AUSTRALIA, "Either Sydney or Canberra.", 0.0),
        (AUSTRALIA, "Canberra, not Sydney.", 1.0),
        (AUSTRALIA, "The capital is Canberra.", 1.0),
        (LARGER, "Mexico or the United States", 0.0),
        (LARGER, "Mexico and the United States", 0.0),  # two entities claimed
        (LARGER, "The United States is larger than Mexico.", 1.0),
        (LARGER, "Mexico is larger than the United States.", 0.0),
    ],
)
def test_hedges_and_negated_alternatives_never_score(question, text, correct):
    assert METRICS.get("accuracy")(question, ans(text)) == correct


@pytest.mark.parametrize(
    "text, match",
    [
        ("Between 100,000 and 400,000", 0.0),  # a range claims no number, although 390,000 is inside it
        ("about 100,000 or 400,000", 0.0),
        ("390,000 or 100,000", 0.0),  # two conflicting numbers
        ("roughly 400,000 people", 1.0),  # one number, within 10%
        ("about 0.39 million", 1.0),
        ("390,000 (2024 est.)", 1.0),
    ],
)
def test_numeric_match_needs_the_one_claimed_number(text, match):
    assert METRICS.get("numeric_match")(POPULATION, ans(text)) == match


def test_numeric_match_respects_units():
    assert METRICS.get("numeric_match")(AREA, ans("248,573 sq mi")) == 1.0  # converted
    assert METRICS.get("numeric_match")(AREA, ans("643,801 km")) == 0.0  # a length is not an area
    # a unitless gold is a count: an area unit does not state it, a missing unit is fine
    assert METRICS.get("numeric_match")(POPULATION, ans("390,000 sq mi")) == 0.0
    assert METRICS.get("numeric_match")(AREA, ans("643,801")) == 1.0


CZ = Question(id="cz", question="Which countries border Austria?", kind="list",
              answers=("Czech Republic", "Germany", "Hungary"))
CONGOS = Question(id="cg", question="Which countries border Angola?", kind="list",
                  answers=("Congo (Brazzaville)", "DRC", "Namibia", "Zambia"))
GUINEA = Question(id="gv", question="Which countries border Mali?", kind="list", answers=("Guinea", "Senegal"))


def test_list_entities_align_one_to_one_by_alias_not_by_containment():
    precision, recall = METRICS.get("list_precision"), METRICS.get("list_recall")
    assert precision(CZ, ans("Republic")) == 0.0  # a part of a name is not the entity
    assert precision(CZ, ans("Czechia, Germany")) == 1.0 and recall(CZ, ans("Czechia, Germany")) == pytest.approx(2 / 3)
    assert recall(CONGOS, ans("Congo")) == pytest.approx(1 / 4)  # one listed name covers at most one gold
    assert precision(CONGOS, ans("Congo, Congo")) == 1.0  # a repeated name is one item
    assert precision(CONGOS, ans("Republic of the Congo, Democratic Republic of the Congo")) == 1.0
    assert precision(GUINEA, ans("Equatorial Guinea")) == 0.0 and precision(GUINEA, ans("Guinea-Bissau")) == 0.0
    assert precision(GUINEA, ans("Guinea, Senegal")) == 1.0
    assert precision(BORDERS, ans("France, Portugal, the rest is unknown")) == 1.0  # the tail is no item


