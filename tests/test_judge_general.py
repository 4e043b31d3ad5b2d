"""claims-v4: the failure categories a blind external-style holdout showed, each with facts of its own.

Every case here failed on claims-v3 (which abstention phrasings it knew, yes/no from context, entity roles,
numbers of another field or year, ranked superlatives, qualifiers of a gold answer)."""

import pytest

from toolkit.extraction import is_abstention
from toolkit.judges import JudgeInput
from toolkit.judges.claims import judge_claims


def judge(question: str, answer: str, gold=(), context=""):
    return judge_claims(JudgeInput(question=question, answer=answer, gold=tuple(gold), context=context),
                        use_embeddings=False).label


@pytest.mark.parametrize("reply", [
    "Apologies, no clue.", "Sorry, no idea!", "Unsure, sorry!", "Haven't the foggiest idea, sorry.",
    "That isn't something I can work out from this text.", "I can't really tell from the passage.",
    "The article doesn't name the sculptor.", "The source gives no tonnage figure.",
    "It's not possible for me to say from this.",
])
def test_abstention_phrasings_are_one_definition(reply):
    assert is_abstention(reply)
    assert judge("Who carved the statue?", reply, context="The statue stands in the square.") == "abstained"
    assert judge("Who carved the statue?", reply, gold=["Orsini"]) == "abstained"


def test_a_claim_beside_an_unknown_still_asserts():
    assert not is_abstention("Orsini. The year he carved it is unclear.")
    assert judge("Who carved the statue?", "Bellucci. Nobody knows when.", gold=["Orsini"]) == "hallucinated"
    assert not is_abstention("The island has no permanent population.")  # a fact, not a refusal


FERRY = ("The Halden ferry began service in 1932. It stopped carrying cars in 1990 and now takes foot passengers "
         "only. The harbour at Nesby is not deep enough for large ships.")


@pytest.mark.parametrize("question, reply, label", [
    ("Does the Halden ferry still carry cars?", "No, it stopped taking cars in 1990.", "supported"),
    ("Does the Halden ferry still carry cars?", "No, it stopped taking cars in 2004.", "hallucinated"),
    ("Does the Halden ferry still carry cars?", "Yes, it carries lorries and buses every hour.", "hallucinated"),
    ("Can large ships enter the harbour at Nesby?", "No, the harbour is not deep enough.", "supported"),
    ("Can large ships enter the harbour at Nesby?", "Yes.", "hallucinated"),
    ("Can large ships enter the harbour at Nesby?", "No.", "supported"),
])
def test_yes_no_answers_are_judged_from_the_context(question, reply, label):
    assert judge(question, reply, context=FERRY) == label


def test_yes_no_gold_still_decides_when_given():
    assert judge("Is the ferry free?", "Yes, always.", gold=["no"]) == "hallucinated"
    assert judge("Is the ferry free?", "No.", gold=["No"]) == "supported"


OPERA = ("Marrow of Winter is a 1958 opera composed by Lotte Haas. Its libretto was written by Piet Vermeer, and "
         "the premiere was conducted by Jonas Ek. The Stavang theatre was built by the Moen family in 1820; the "
         "Aune family restored it in 1911.")


@pytest.mark.parametrize("question, reply, label", [
    ("Who composed Marrow of Winter?", "Lotte Haas.", "supported"),
    ("Who composed Marrow of Winter?", "Piet Vermeer composed it.", "hallucinated"),
    ("Who conducted the premiere of Marrow of Winter?", "Jonas Ek.", "supported"),
    ("Who conducted the premiere of Marrow of Winter?", "Lotte Haas.", "hallucinated"),
    ("Which family built the Stavang theatre?", "The Moen family.", "supported"),
    ("Which family built the Stavang theatre?", "The Aune family.", "hallucinated"),
])
def test_a_name_in_the_passage_must_hold_the_asked_role(question, reply, label):
    assert judge(question, reply, context=OPERA) == label


DAM = ("The Ryfors dam produced 310 GWh in 2005. In 2015 its output rose to 455 GWh. The dam wall is 96 metres "
       "high and its crest is 720 metres long.")


@pytest.mark.parametrize("question, reply, label", [
    ("What was the output of the Ryfors dam in 2015?", "455 GWh.", "supported"),
    ("What was the output of the Ryfors dam in 2015?", "310 GWh.", "hallucinated"),
    ("How long is the crest of the Ryfors dam?", "720 metres.", "supported"),
    ("How long is the crest of the Ryfors dam?", "It is 96 metres long.", "hallucinated"),
])
def test_a_number_in_the_passage_must_belong_to_the_asked_field_and_year(question, reply, label):
    assert judge(question, reply, context=DAM) == label


def test_a_ranked_superlative_contradicts_the_top_one():
    context = "Lake Vinn is the third-largest lake in the county, after Lake Aas and Lake Borre."
    assert judge("What is the largest lake in the county?", "Lake Vinn is the largest lake in the county.",
                 context=context) == "hallucinated"
    assert judge("Is Lake Vinn the largest lake in the county?", "No.", context=context) == "supported"


@pytest.mark.parametrize("reply, label", [
    ("Windhoek, Khomas.", "supported"),
    ("Windhoek (Khomas Region)", "supported"),
    ("Gaborone, Botswana.", "hallucinated"),
    ("Windhoek, which was founded by missionaries in 1760.", "hallucinated"),
])
def test_a_qualifier_of_the_gold_answer_is_not_a_new_claim(reply, label):
    assert judge("What is the capital of Namibia?", reply, gold=["Windhoek"]) == label
    assert judge("What is the currency of Namibia?", "The Namibian dollar (NAD).", gold=["Namibian dollar"]) \
        == "supported"


@pytest.mark.parametrize("reply, label", [("In 2010.", "supported"), ("In 2000.", "hallucinated"),
                                          ("It opened in 2020.", "hallucinated")])
def test_round_years_are_compared_exactly(reply, label):
    """claims-v3 read "2000" and "2020" as counts with 5% tolerance, so both 'matched' 2010."""
    context = "The Velden observatory opened in 2010. It was closed in 2021."
    assert judge("When did the Velden observatory open?", reply, context=context) == label
