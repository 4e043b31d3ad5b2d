"""Gold-side aliases and the gazetteer built from the Factbook corpus (toolkit.extraction.entities)."""

import json

import pytest

from toolkit.extraction.entities import (
    DOCS_DIR,
    aliases,
    canonical,
    entity_mentions,
    gazetteer,
    load,
    same_entity,
)
from toolkit.paths import REPO_ROOT


@pytest.mark.parametrize(
    "name, entity",
    [
        ("United States", "United States"),
        ("United States of America", "United States"),
        ("USA", "United States"),
        ("US", "United States"),
        ("U.S.", "United States"),
        ("the U.S.A.", "United States"),
        ("UK", "United Kingdom"),
        ("Great Britain", "United Kingdom"),
        ("Czech Republic", "Czechia"),
        ("Myanmar", "Burma"),
        ("Ivory Coast", "Côte d'Ivoire"),
        ("Cote d’Ivoire", "Côte d'Ivoire"),
        ("Democratic Republic of the Congo", "DRC"),
        ("Republic of the Congo", "Congo (Brazzaville)"),
        ("Bahamas", "The Bahamas"),
        ("St. Lucia", "Saint Lucia"),
        ("Federal Republic of Germany", "Germany"),
        ("Deutschland", "Germany"),  # local short form
        ("Zaire", "DRC"),  # former name
        ("Vatican City", "Holy See (Vatican City)"),
    ],
)
def test_known_names_denote_their_entity(name, entity):
    assert canonical(name) == entity


@pytest.mark.parametrize("name", ["Republic", "Korea", "Brazzaville", "Islands", "Paris", "", "Serbia and Montenegro"])
def test_parts_of_names_cities_and_ambiguous_names_denote_no_entity(name):
    assert canonical(name) is None


def test_aliases_and_same_entity():
    assert {"USA", "US", "United States of America", "United States"} <= aliases("United States")
    assert aliases("USA") == aliases("United States")
    assert aliases("Paris") == frozenset({"Paris"})  # unknown names are their own only alias
    assert same_entity("The USA", "United States") and same_entity("paris", "Paris")
    assert not same_entity("Republic", "Czech Republic")
    assert not same_entity("Equatorial Guinea", "Guinea") and not same_entity("Niger", "Nigeria")
    assert not same_entity("Congo (Brazzaville)", "DRC") and not same_entity("", "")
    # an alias never points at a second entity
    for name in aliases("Congo (Brazzaville)"):
        assert canonical(name) == "Congo (Brazzaville)"


def test_gazetteer_holds_every_list_gold_and_mentions_take_the_longest_name():
    golds = {
        gold
        for split in ("dev", "test")
        for line in (REPO_ROOT / "rag_corpus" / "questions" / f"{split}.jsonl").read_text().splitlines()
        if (row := json.loads(line))["kind"] == "list"
        for gold in row["answers"]
    }
    names = gazetteer()
    assert golds <= names and len(names) > 900
    assert all(canonical(gold) == gold for gold in golds)  # every gold is its own canonical entity
    assert entity_mentions("Equatorial Guinea and Guinea-Bissau, not the U.S.A.") == [
        "Equatorial Guinea",
        "Guinea-Bissau",
        "United States",
    ]
    assert entity_mentions("the Republic of Paris") == []


def test_loading_is_deterministic_and_cached():
    assert load() is load()
    load.cache_clear()
    first = load()
    load.cache_clear()
    assert load(DOCS_DIR) == first
