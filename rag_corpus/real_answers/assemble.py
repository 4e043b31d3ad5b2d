"""Join the answers (``unlabelled/``) with the human labels (``labels/``) into ``dev.jsonl`` and ``test.jsonl``.

    python rag_corpus/real_answers/assemble.py                  # every batch must be labelled
    python rag_corpus/real_answers/assemble.py --only-labelled  # leave out batches without a labels file

Every label line is checked (LABELS_FORMAT.md: ``id``, ``label``, ``accuracy``, ``rationale``, ``labeller``); an
unknown value, a missing or duplicate label, or a label for an unknown item stops it with exit code 2 and a message
naming the file, line and fix, before anything is written. The split is by question: an answer goes to ``dev`` when
its question is in the Factbook dev split (``rag_corpus/questions/dev.jsonl``) and to ``test`` when it is in the
test split, so all answers to one question land in one split.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUESTIONS = HERE.parent / "questions"
LABELS = ("supported", "hallucinated", "abstained")
ACCURACY = ("correct", "incorrect")
LABEL_FIELDS = ("id", "label", "accuracy", "rationale", "labeller")
CONTRACT_FIELDS = ("id", "question_id", "split", "model", "engine", "method", "question", "kind", "gold",
                   "tolerance", "doc_ids", "context", "answer", "label", "accuracy", "rationale")  # fmt: skip


class AssembleError(ValueError):
    """The labels cannot be joined as they are; the message names the file, line and the fix."""


def read_jsonl(path: Path) -> list[tuple[int, dict]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise AssembleError(f"{path}:{number}: not valid JSON ({error.msg}). Fix the line.") from None
        if not isinstance(row, dict):
            raise AssembleError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}.")
        rows.append((number, row))
    return rows


def check_label(row: dict, where: str) -> None:
    """One label line: exactly the known fields, known values, a one-line rationale and a labeller."""
    missing = [f for f in LABEL_FIELDS if f not in row]
    if missing:
        raise AssembleError(
            f"{where}: missing field(s) {missing}; a label line is {{{', '.join(LABEL_FIELDS)}}}."
        )
    if row["label"] not in LABELS:
        raise AssembleError(f"{where}: unknown label {row['label']!r}; use one of {', '.join(LABELS)}.")
    if row["accuracy"] not in ACCURACY:
        raise AssembleError(
            f"{where}: unknown accuracy {row['accuracy']!r}; use one of {', '.join(ACCURACY)}."
        )
    for field in ("rationale", "labeller"):
        value = row[field]
        if not isinstance(value, str) or not value.strip() or "\n" in value:
            raise AssembleError(f"{where}: {field} must be one non-empty line of text, got {value!r}.")


def question_splits() -> dict[str, str]:
    splits = {}
    for split in ("dev", "test"):
        for _, row in read_jsonl(QUESTIONS / f"{split}.jsonl"):
            splits[row["id"]] = split
    return splits


def labelled_items(folder: Path = HERE, *, only_labelled: bool = False) -> list[dict]:
    """Every item of the labelled batches with its label, validated; the split from its question."""
    batches = sorted((folder / "unlabelled").glob("batch_*.jsonl"))
    if not batches:
        raise AssembleError(f"no batches in {folder / 'unlabelled'}: run generate.py export first.")
    unlabelled = [b.name for b in batches if not (folder / "labels" / b.name).is_file()]
    if unlabelled and not only_labelled:
        raise AssembleError(
            f"no labels yet for {len(unlabelled)} of {len(batches)} batches: {', '.join(unlabelled)} "
            f"(expected labels/<same name>). Label them, or pass --only-labelled to leave them out."
        )
    splits, seen, out = question_splits(), set(), []
    for batch in batches:
        labels_file = folder / "labels" / batch.name
        if batch.name in unlabelled:
            continue
        items = {row["id"]: row for _, row in read_jsonl(batch)}
        labels: dict[str, dict] = {}
        for number, row in read_jsonl(labels_file):
            where = f"{labels_file}:{number}"
            check_label(row, where)
            if row["id"] not in items:
                raise AssembleError(f"{where}: id {row['id']!r} is not an item of {batch}; check the id.")
            if row["id"] in labels:
                raise AssembleError(f"{where}: id {row['id']!r} is labelled twice; keep one line.")
            labels[row["id"]] = row
        missing = [i for i in items if i not in labels]
        if missing:
            raise AssembleError(
                f"{labels_file}: {len(missing)} of {len(items)} items have no label, e.g. {missing[:3]}; label them."
            )
        for item_id, item in items.items():
            if item_id in seen:
                raise AssembleError(f"{batch}: item {item_id!r} is also in an earlier batch.")
            seen.add(item_id)
            split = splits.get(item["question_id"])
            if split is None:
                raise AssembleError(
                    f"{batch}: question {item['question_id']!r} is in neither Factbook split."
                )
            label = labels[item_id]
            out.append({**item, "split": split, **{f: label[f] for f in LABEL_FIELDS}})
    return out


def write(items: list[dict], folder: Path = HERE) -> dict[str, int]:
    """``dev.jsonl`` and ``test.jsonl`` (contract fields first, sorted by id), each replaced atomically."""
    counts = {}
    for split in ("dev", "test"):
        rows = sorted((i for i in items if i["split"] == split), key=lambda i: i["id"])
        ordered = [{**{f: r[f] for f in CONTRACT_FIELDS}, **r} for r in rows]
        path = folder / f"{split}.jsonl"
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ordered), encoding="utf-8")
        tmp.replace(path)
        counts[split] = len(rows)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only-labelled", action="store_true", help="leave out batches without a labels file"
    )
    args = parser.parse_args(argv)
    try:
        items = labelled_items(only_labelled=args.only_labelled)
    except AssembleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    counts = write(items)
    print(f"wrote dev.jsonl ({counts['dev']}) and test.jsonl ({counts['test']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
