"""The real-answer labelled set (issue 25 point 1): how labels are joined and checked, and the committed set itself.

The unit tests build a tiny set in a temporary folder (items in the committed batches' shape) and check that
``assemble.py`` rejects every bad label with a message naming the file, line and fix, and splits by question. The
last test checks the committed ``dev.jsonl``/``test.jsonl``; until every batch is labelled it fails and says exactly
which batches and items are missing.
"""

import json
from pathlib import Path

import pytest

from rag_corpus.real_answers import assemble, generate

HERE = assemble.HERE
MODELS = {"local/smollm2-135m-instruct", "llamacpp/gemma3-270m"}
METHODS = {"closed_book", "rag", "cove_joint", "rag_cove"}
MIN_ITEMS, MIN_TEST = 600, 300


def _item(question_id: str, method: str = "closed_book", model: str = "local/smollm2-135m-instruct") -> dict:
    return {"id": f"{question_id}:{model.split('/')[1][:7]}:{method}", "question_id": question_id, "split": "?",
            "model": model, "engine": "vllm-ray-serve", "method": method, "question": "q?", "kind": "short",
            "gold": ["x"], "tolerance": None, "doc_ids": [], "context": "", "answer": "x"}  # fmt: skip


def _label(item: dict, **changes) -> dict:
    return {"id": item["id"], "label": "supported", "accuracy": "correct", "rationale": "x = gold",
            "labeller": "test", **changes}  # fmt: skip


def _write(folder: Path, name: str, rows: list[dict]) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def small_set(tmp_path):
    items = [
        _item("capital-fr"),
        _item("capital-fr", "rag"),
        _item("capital-ec"),
    ]  # capital-ec: a test question
    assert assemble.question_splits()["capital-ec"] == "test"
    _write(tmp_path, "unlabelled/batch_00.jsonl", items)
    return tmp_path, items


def test_labels_are_joined_and_split_by_question(small_set):
    folder, items = small_set
    _write(folder, "labels/batch_00.jsonl", [_label(i) for i in items])
    joined = assemble.labelled_items(folder)
    assert {(i["question_id"], i["split"]) for i in joined} == {("capital-fr", "dev"), ("capital-ec", "test")}
    counts = assemble.write(joined, folder)
    assert counts == {"dev": 2, "test": 1}
    first = json.loads((folder / "dev.jsonl").read_text().splitlines()[0])
    assert list(first)[: len(assemble.CONTRACT_FIELDS)] == list(assemble.CONTRACT_FIELDS)
    assert first["labeller"] == "test"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"label": "halucinated"},
            "unknown label 'halucinated'; use one of supported, hallucinated, abstained",
        ),
        ({"accuracy": "partly"}, "unknown accuracy 'partly'; use one of correct, incorrect"),
        ({"rationale": "two\nlines"}, "rationale must be one non-empty line"),
        ({"labeller": ""}, "labeller must be one non-empty line"),
        ({"id": "nope"}, "id 'nope' is not an item of"),
    ],
)
def test_a_bad_label_names_the_file_line_and_fix(small_set, change, message):
    folder, items = small_set
    labels = _write(
        folder, "labels/batch_00.jsonl", [_label(items[0]), _label(items[1], **change), _label(items[2])]
    )
    with pytest.raises(assemble.AssembleError, match=rf"{labels}:2: .*") as error:
        assemble.labelled_items(folder)
    assert message in str(error.value)


def test_missing_duplicate_and_unlabelled_batches_are_refused(small_set):
    folder, items = small_set
    with pytest.raises(assemble.AssembleError, match=r"no labels yet for 1 of 1 batches: batch_00.jsonl"):
        assemble.labelled_items(folder)
    assert assemble.labelled_items(folder, only_labelled=True) == []
    _write(folder, "labels/batch_00.jsonl", [_label(items[0]), _label(items[0])])
    with pytest.raises(assemble.AssembleError, match="labelled twice"):
        assemble.labelled_items(folder)
    _write(folder, "labels/batch_00.jsonl", [_label(items[0])])
    with pytest.raises(assemble.AssembleError, match=r"2 of 3 items have no label"):
        assemble.labelled_items(folder)
    _write(
        folder,
        "labels/batch_00.jsonl",
        [{k: v for k, v in _label(i).items() if k != "accuracy"} for i in items],
    )
    with pytest.raises(assemble.AssembleError, match=r"missing field\(s\) \['accuracy'\]"):
        assemble.labelled_items(folder)


def test_the_cli_exits_2_and_writes_nothing_on_a_bad_label(small_set, monkeypatch, capsys):
    folder, items = small_set
    _write(folder, "labels/batch_00.jsonl", [_label(i, label="maybe") for i in items])
    monkeypatch.setattr(assemble, "HERE", folder)
    monkeypatch.setattr(assemble.labelled_items, "__defaults__", (folder,))
    assert assemble.main([]) == 2
    assert "unknown label 'maybe'" in capsys.readouterr().err
    assert not (folder / "dev.jsonl").exists() and not (folder / "test.jsonl").exists()


def test_export_appends_new_answers_to_new_batches_and_never_reshuffles_old_ones(tmp_path):
    first = [_item(f"q{i}") for i in range(150)]
    written = generate.export(first, tmp_path)
    assert [p.name for p in written] == ["batch_00.jsonl", "batch_01.jsonl"]
    before = {p.name: p.read_bytes() for p in written}
    assert generate.export(first, tmp_path) == []
    more = generate.export(first + [_item(f"r{i}") for i in range(5)], tmp_path)
    assert [p.name for p in more] == ["batch_02.jsonl"] and len(more[0].read_text().splitlines()) == 5
    assert {p.name: p.read_bytes() for p in written} == before


def test_the_chunks_shown_are_cut_from_the_last_user_turn_only():
    prompt = ("System: Answer only from the numbered chunks.\nHuman: Chunks:\n[c1] Hamlet is a tragedy.\n\n"
              "Question: Who wrote Hamlet?\nAI: William Shakespeare [c1].\nHuman: Chunks:\n[c1] France — Government\n"
              "Capital:\nname: Paris\n[c2] Belgium — Government\n\nQuestion: What is the capital of France?")  # fmt: skip
    assert (
        generate.shown_chunks(prompt)
        == "[c1] France — Government\nCapital:\nname: Paris\n[c2] Belgium — Government"
    )
    assert generate.shown_chunks("System: s\nHuman: What is the capital of France?") == ""


def test_the_committed_labelled_set_is_complete_and_valid():
    """Fails until every batch is labelled and assembled; the message lists exactly what is missing."""
    batches = sorted((HERE / "unlabelled").glob("batch_*.jsonl"))
    unlabelled = [b.name for b in batches if not (HERE / "labels" / b.name).is_file()]
    items = sum(len(b.read_text().splitlines()) for b in batches)
    missing = []
    if items < MIN_ITEMS:
        missing.append(f"only {items} answers exported (need >= {MIN_ITEMS}): generate.py run + export")
    if unlabelled:
        missing.append(f"labels/ for {len(unlabelled)} of {len(batches)} batches: {', '.join(unlabelled)}")
    joined = (
        assemble.labelled_items(HERE, only_labelled=True) if batches else []
    )  # raises on an invalid label
    committed = {
        split: [json.loads(line) for line in (HERE / f"{split}.jsonl").read_text().splitlines()]
        if (HERE / f"{split}.jsonl").is_file() else []
        for split in ("dev", "test")
    }  # fmt: skip
    rows = committed["dev"] + committed["test"]
    if sorted(r["id"] for r in rows) != sorted(i["id"] for i in joined):
        missing.append(
            "dev.jsonl/test.jsonl are not what the labels give: run assemble.py and commit its output"
        )
    assert not missing, "the real-answer set is not complete yet:\n- " + "\n- ".join(missing)
    for row in rows:
        assert row["label"] in assemble.LABELS and row["accuracy"] in assemble.ACCURACY, row["id"]
        assert row["rationale"].strip() and "\n" not in row["rationale"], row["id"]
    dev_questions = {r["question_id"] for r in committed["dev"]}
    assert not dev_questions & {r["question_id"] for r in committed["test"]}, "a question is in both splits"
    assert len(rows) >= MIN_ITEMS and len(committed["test"]) >= MIN_TEST
    assert {r["model"] for r in rows} >= MODELS and {r["method"] for r in rows} >= METHODS
    assert {r["kind"] for r in rows} == {"short", "numeric", "list", "multihop", "unanswerable"}


def test_every_generator_spec_loads():
    """The generator stays usable to extend the set: each of its specs loads as it is (a judge option the judge no
    longer takes once broke two of them)."""
    from rag_corpus.real_answers.generate import specs

    assert [key for key, _ in specs()] == ["dev", "test", "dev_sampled"]
