"""Dataset loaders: the built-in Factbook set, JSONL/SQuAD/BEIR round trips, errors naming file/line/field."""

import json
from collections import Counter
from pathlib import Path

import pytest

from toolkit.datasets import DatasetError, load_dataset, sample, with_distractors
from toolkit.records import Question
from toolkit.registry import UnknownNameError

FIXTURES = Path(__file__).parent / "fixtures" / "datasets"


def test_factbook_dev_has_every_kind_and_its_documents():
    data = load_dataset("factbook", "dev")
    assert data.split == "dev" and 40 <= len(data.questions) <= 60
    assert set(Counter(q.kind for q in data.questions)) == {
        "short",
        "numeric",
        "list",
        "multihop",
        "unanswerable",
    }
    assert len(data.documents) == 256 and data.documents["fr"].startswith("# France\n")
    assert set(data.gold_doc_ids()) <= set(data.documents)
    assert len(load_dataset("factbook", "test").questions) > 5 * len(data.questions)


def test_unknown_names_and_splits_say_what_to_do():
    with pytest.raises(UnknownNameError, match="Did you mean 'factbook'"):
        load_dataset("factbok")
    with pytest.raises(DatasetError, match=r"no split 'train'.*\['dev', 'test'\]"):
        load_dataset("factbook", "train")
    with pytest.raises(ValueError, match="jsonl:/path/to/data"):
        load_dataset("jsonl")


def test_sample_is_deterministic_stratified_and_filtered():
    data = load_dataset("factbook", "dev")
    first = sample(data, 10, seed=3)
    assert first == sample(data, 10, seed=3) and len(first) == 10
    assert sample(data, 10, seed=4) != first
    assert len({q.kind for q in first}) == 5  # round-robin: 10 questions cover all 5 kinds
    lists = sample(data, 3, seed=0, kinds=["list"])
    assert len(lists) == 3 and {q.kind for q in lists} == {"list"}
    assert len(sample(data, 1000)) == len(data.questions)
    picked = with_distractors(data, ["fr"], 3, seed=1)
    assert picked[0] == "fr" and len(set(picked)) == 4 and picked == with_distractors(data, ["fr"], 3, seed=1)


def test_jsonl_fixture_loads_with_kinds_contexts_and_splits():
    data = load_dataset(f"jsonl:{FIXTURES / 'qa.jsonl'}")
    by_id = {q.id: q for q in data.questions}
    assert by_id["q1"].answers == ("Poseidonia", "Poseidonia City") and by_id["q1"].kind == "short"
    assert by_id["q2"].kind == "list" and by_id["q2"].answers == ("Azure", "Coral")
    assert (
        by_id["q3"].kind == "numeric" and by_id["q3"].doc_ids == ("ctx-q3",) and by_id["q3"].tolerance == 0.05
    )
    assert by_id["q4"].kind == "unanswerable"
    assert data.documents["ctx-q3"].startswith("The tallest tower") and "Poseidonia" in data.documents["atl"]
    dev = load_dataset(f"jsonl:{FIXTURES / 'qa.jsonl'}", "dev")
    assert [q.id for q in dev.questions] == ["q1", "q2", "q4"]


def test_jsonl_round_trips_through_question_records(tmp_path):
    data = load_dataset(f"jsonl:{FIXTURES / 'qa.jsonl'}")
    out = tmp_path / "again.jsonl"
    out.write_text("".join(json.dumps(q.model_dump()) + "\n" for q in data.questions), encoding="utf-8")
    (tmp_path / "again.corpus.jsonl").write_text(
        "".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in data.documents.items()), encoding="utf-8"
    )
    again = load_dataset(f"jsonl:{out}")
    strip = lambda qs: [q.model_copy(update={"dataset": ""}) for q in qs]  # noqa: E731 - dataset = file stem
    assert strip(again.questions) == strip(data.questions) and again.documents == data.documents


def test_squad_paragraphs_become_the_corpus():
    data = load_dataset(f"squad:{FIXTURES / 'squad.json'}")
    assert data.documents == {
        "Lemuria-0": "Lemuria is a sunken continent. Its largest city was Mu, famous for the Tower of Ra.",
        "Lemuria-1": "The Tower of Ra was 312 metres tall.",
    }
    s1, s2, s3 = data.questions
    assert s1 == Question(
        id="s1",
        question="What was the largest city of Lemuria?",
        kind="short",
        answers=("Mu",),
        doc_ids=("Lemuria-0",),
        dataset="squad",
        context=data.documents["Lemuria-0"],
    )
    assert s2.kind == "unanswerable" and s2.answers == () and s2.doc_ids == ()
    assert s3.doc_ids == ("Lemuria-1",)


def test_beir_folder_uses_qrels_as_gold_documents():
    data = load_dataset(f"beir:{FIXTURES / 'beir'}")
    assert data.split == "test" and data.documents["d1"].startswith("# Atlantis\n")
    assert {q.id: q.doc_ids for q in data.questions} == {
        "b1": ("d1",),
        "b2": ("d3", "d2"),
    }  # score 0 is not gold
    assert all(q.kind == "long" for q in data.questions)
    with pytest.raises(DatasetError, match=r"no qrels for split 'dev'.*\['test'\]"):
        load_dataset(f"beir:{FIXTURES / 'beir'}", "dev")


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (
            '{"id": "a", "question": "Q?", "answers": ["x"]}\n{"id": "b", "answers": ["y"]}\n',
            r"bad\.jsonl, line 2, field 'question': missing",
        ),
        ('{"id": "a", "question": "Q?"}\n', r"line 1, field 'answers'"),
        (
            '{"id": "a", "question": "Q?", "answers": ["x"]}\n\n{"id": "a", "question": "R?", "answers": []}\n',
            r"line 3, field 'id': duplicate id 'a' \(first on line 1\)",
        ),
        (
            '{"id": "a", "question": "Q?", "answers": [1]}\n',
            r"line 1, field 'answers': expected a string or a list",
        ),
        ('{"id": "a", "question": "Q?", "answers": ["x"], "kind": "essay"}\n', r"line 1, field 'kind'"),
        ('{"id": "a", "question": "Q?", "answers": ["x"]}\n{not json\n', r"line 2: invalid JSON"),
        (
            b'{"id": "a", "question": "Q?", "answers": ["x"]}\n{"id": "b", "question": "caf\xe9?", "answers": []}\n',
            r"bad\.jsonl, line 2: not UTF-8",
        ),
        ("", r"no questions"),
    ],
)
def test_bad_jsonl_errors_name_file_line_and_field(tmp_path, content, pattern):
    path = write(tmp_path / "bad.jsonl", content)
    with pytest.raises(DatasetError, match=pattern):
        load_dataset(f"jsonl:{path}")


def test_bad_squad_and_beir_files(tmp_path):
    squad = write(
        tmp_path / "s.json",
        json.dumps({"data": [{"title": "T", "paragraphs": [{"context": " ", "qas": []}]}]}),
    )
    with pytest.raises(DatasetError, match=r"s\.json, field 'data\[0\]\.paragraphs\[0\]\.context'"):
        load_dataset(f"squad:{squad}")
    with pytest.raises(DatasetError, match="no articles"):
        load_dataset(f"squad:{write(tmp_path / 'e.json', json.dumps({'data': []}))}")
    beir = tmp_path / "beir"
    write(beir / "corpus.jsonl", "")
    write(beir / "queries.jsonl", '{"_id": "q", "text": "x"}\n')
    write(beir / "qrels" / "test.tsv", "q\td\t1\n")
    with pytest.raises(DatasetError, match=r"corpus\.jsonl: empty corpus"):
        load_dataset(f"beir:{beir}")
    write(beir / "corpus.jsonl", '{"_id": "d", "text": "t"}\n{"_id": "d", "text": "u"}\n')
    with pytest.raises(DatasetError, match=r"corpus\.jsonl, line 2, field '_id': duplicate"):
        load_dataset(f"beir:{beir}")
    write(beir / "corpus.jsonl", '{"_id": "d", "text": "t"}\n')
    write(beir / "qrels" / "test.tsv", "q\tnope\t1\n")
    with pytest.raises(DatasetError, match=r"test\.tsv, line 1, field 'corpus-id': unknown corpus id 'nope'"):
        load_dataset(f"beir:{beir}")
