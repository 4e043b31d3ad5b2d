"""Answer extraction (toolkit.extraction): stance, the one claimed answer, the one number, list items.

Each case is one where a naive version (substring abstention, "any number matches", split on every "and", gold
names kept whole) is wrong; issue 17 lists them.
"""

import pytest

from toolkit.extraction import (
    Quantity,
    claimed_answer,
    extract_number,
    is_abstention,
    list_items,
    normalize,
    quantities,
    units_compatible,
)

ABSTAINING = [
    "I don’t know.",  # curly apostrophe
    "I don't know.",
    "i dont know",
    "I do not know the national dish of France.",
    "I cannot determine the capital from the given context.",
    "There is no information about the national dish of France.",
    "Not enough information.",
    "Not enough information to answer.",
    "I'm not sure.",
    "I am not certain.",
    "",
    "   ",
    "N/A",
    "Unknown.",
    "That is not stated in the chunks.",
    "The context does not mention it.",
    "Sorry, I don't know. Please check an encyclopedia.",
    "Unfortunately, I am unable to answer that.",
    "Based on the chunks, there is no information about it.",
    "The answer cannot be determined from the passage.",
    "I don't know the population of Paris, France.",
    "No information is available [c1].",
    "I'm sorry, but I don't have information about that.",
    "I do not have enough information to answer this question.",
    "As of my knowledge cutoff, I cannot provide that.",
    "It is not possible to determine this from the text.",
    "Nobody knows.",
]
ASSERTING = [
    "Paris",
    "Paris [c1].",
    "Sydney. Its founding date is unknown.",  # asserts Sydney
    "France, Germany, the rest is unknown",  # a list with entities
    "France, Germany, Italy; the rest is unknown.",
    "I don't know, but I think it is Paris.",  # a hedged guess still claims Paris
    "No, it does not border Spain.",
    "None",  # "no such countries" is a claim, not a refusal
    "The national dish is cassoulet.",
]


@pytest.mark.parametrize("text", ABSTAINING)
def test_abstention_is_the_whole_replys_stance(text):
    assert is_abstention(text)


@pytest.mark.parametrize("text", ASSERTING)
def test_a_reply_that_asserts_something_does_not_abstain(text):
    assert not is_abstention(text)


@pytest.mark.parametrize(
    "text, claim",
    [
        ("Not Sydney or Canberra; it is Melbourne", "Melbourne"),
        ("The capital is Paris.", "Paris"),
        ("The capital of France is Paris.", "Paris"),
        ("Paris", "Paris"),
        ("Answer: Tokyo", "Tokyo"),
        ("I think it is probably Paris.", "Paris"),
        ("Canberra, not Sydney.", "Canberra"),
        ("It is not Sydney but Canberra.", "Canberra"),
        ("Mont Blanc is the highest point in France.", "Mont Blanc"),
        ("France is larger than Japan.", "France"),
        ("Japan is smaller than France.", "France"),
        ("Japan has a larger population than France.", "Japan"),
        ("Which is larger? France.", "France"),  # an echoed question is skipped
        ("The USA.", "The USA"),
        ("Paris [c1]. It is on the Seine [c2].", "Paris"),
    ],
)
def test_claimed_answer(text, claim):
    assert claimed_answer(text) == claim


@pytest.mark.parametrize(
    "text, question, claim",
    [
        # the side of "X is Y" that does not repeat the question is the answer
        ("The Canadian dollar is the official currency of Canada.", "What is the currency of Canada?",
         "The Canadian dollar"),
        ("The capital of France is Paris.", "What is the capital of France?", "Paris"),
        ("The answer is France.", "Which is larger by area, France or Japan?", "France"),
        # a choice question: the comparing clause is the claim, with decimals, negation and "smaller"
        ("Both Germany and Brazil are large. Germany is approximately 1.27 times larger than Brazil.",
         "Which is larger by area, Germany or Brazil?", "Germany"),
        ("Both have many people, but Germany has a larger population.", "Which has the larger population, "
         "Germany or Brazil?", "Germany"),
        ("Germany is not larger than Brazil.", "Which is larger by area, Germany or Brazil?", "Brazil"),
        # framing lead-ins assert nothing; the clause after them does
        ("Sure! The highest point in Canada is Mount Logan.", "What is the highest point in Canada?", "Mount Logan"),
        ("Based on the context, the capital of Kuwait is Kuwait City [c2].", "What is the capital of Kuwait?",
         "Kuwait City"),
        ("According to Wikipedia, Paris.", "What is the capital of France?", "Paris"),
        ("Based on the context, the larger one is Belize [c2].", "Which is larger by area, Jersey or Belize?", "Belize"),
    ],
)
def test_claimed_answer_with_the_question(text, question, claim):
    assert claimed_answer(text, question) == claim


@pytest.mark.parametrize(
    "text",
    [
        "Either Sydney or Canberra",
        "Sydney or Canberra",
        "It could be Sydney or Canberra.",
        "Sydney/Canberra",
        "I don't know.",
        "",
        "Not Sydney.",  # only a negation: nothing claimed
        "Libreville is not correct.",
        "Canberra isn't the answer.",
    ],
)
def test_hedges_abstentions_and_bare_negations_claim_nothing(text):
    assert claimed_answer(text) == ""


@pytest.mark.parametrize(
    "text, value, unit",
    [
        ("643,801 sq km", 643_801, "sq km"),
        ("France covers 643,801 sq km.", 643_801, "sq km"),
        ("about 1.2 million", 1_200_000, ""),
        ("84 million people", 84_000_000, "people"),
        ("84,012,284 (2024 est.)", 84_012_284, ""),  # the year is not a second claim
        ("643,801 sq km (248,573 sq mi)", 643_801, "sq km"),  # the same area in two units
        ("roughly 640k km²", 640_000, "sq km"),
        ("1.5 bn", 1_500_000_000, ""),
        ("5%", 5, "%"),
        ("4,810 metres", 4_810, "m"),
        ("not 500,000 but 640,000", 640_000, ""),
        ("Germany has 84 million people, growing 0.5% a year", 84_000_000, "people"),
        ("The answer is 2024.", 2024, ""),  # a lone year is the claim
        ("84 million (2020-2021 est.)", 84_000_000, ""),  # a span of years is no range of values
        ("about 221,000,000. It has been so since 1756.", 221_000_000, ""),  # a dated year is no rival
        ("approximately 102 sq. km. This was decided in 1793.", 102, "sq km"),
    ],
)
def test_extract_number(text, value, unit):
    quantity = extract_number(text)
    assert quantity is not None and quantity.value == pytest.approx(value) and quantity.unit == unit


@pytest.mark.parametrize(
    "text",
    [
        "Between 100,000 and 400,000",
        "from 100,000 to 400,000 people",
        "84-85 million",
        "390,000 or 100,000",
        "It is 390,000, or maybe 100,000.",
        "I don't know.",
        "No idea, sorry.",
        "Paris",
    ],
)
def test_ranges_conflicts_and_no_number_claim_no_number(text):
    assert extract_number(text) is None


def test_quantity_scale_raw_and_units():
    quantity = extract_number("about 1.2 million sq km")
    assert quantity == Quantity(value=1_200_000.0, unit="sq km", scale=1e6, raw="1.2 million sq km")
    assert extract_number("248,573 sq mi").in_base_unit() == pytest.approx(643_801, rel=1e-3)
    assert units_compatible("sq km", "sq mi") and units_compatible("", "sq km") and units_compatible("people", "")
    assert not units_compatible("km", "sq km") and not units_compatible("%", "people")
    assert [q.value for q in quantities("3,500 km and 1.2 million people")] == [3500.0, 1_200_000.0]


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
        ("I don't know.", []),
        ("I don’t know.", []),
        ("", []),
        ("None", []),
        ("The countries bordering Peru are Chile, Bolivia, and Ecuador.", ["Chile", "Bolivia", "Ecuador"]),
        ("### Spain\n### Portugal", ["Spain", "Portugal"]),
        ("France, Germany, Italy; the rest is unknown.", ["France", "Germany", "Italy"]),
        ("Italy (not Spain), Andorra", ["Italy", "Andorra"]),
        ("Spain (1,214 km), Andorra (56 km)", ["Spain", "Andorra"]),
        ("It borders Russia.", ["Russia"]),
        ("Peru is bordered by Chile and Bolivia.", ["Chile", "Bolivia"]),
        ("Germany, Poland, and this is a long sentence that is clearly not a country name at all", ["Germany", "Poland"]),
    ],
)
def test_list_items(text, expected):
    assert list_items(text) == expected


def test_compound_names_are_kept_whole_by_the_gazetteer_not_by_gold():
    assert list_items("Croatia, Bosnia and Herzegovina, Serbia") == ["Croatia", "Bosnia and Herzegovina", "Serbia"]
    assert list_items("Trinidad & Tobago, Guyana") == ["Trinidad and Tobago", "Guyana"]
    assert list_items("Saint Helena, Ascension, and Tristan da Cunha, Namibia") == [
        "Saint Helena, Ascension, and Tristan da Cunha",
        "Namibia",
    ]
    # without a gazetteer "and" splits; a caller's own gazetteer keeps its names whole
    assert list_items("Croatia, Bosnia and Herzegovina", gazetteer=()) == ["Croatia", "Bosnia", "Herzegovina"]
    assert list_items("Foo and Bar, Baz", gazetteer=("Foo and Bar",)) == ["Foo and Bar", "Baz"]


def test_normalize_folds_quotes_accents_and_dotted_abbreviations():
    assert normalize("Côte d’Ivoire") == normalize("Cote d'Ivoire") == "cote divoire"
    assert normalize("The U.S.A.") == "usa" and normalize("U.K.") == "uk"


@pytest.mark.parametrize("junk", ["\x00", "[[[", "1" * 500, "?" * 50, "…", '["a", {"b": 1}]'])
def test_extraction_never_raises_on_junk(junk):
    is_abstention(junk), claimed_answer(junk), extract_number(junk), list_items(junk)
