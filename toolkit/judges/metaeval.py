"""Meta-evaluation: labelled sets (a registry of their formats) and judges run on them; figures in ``card``.

A labelled line is ``{"question", "answer", "label", "gold"?, "context"?, "kind"?, "doc_ids"?, "dataset"?}``
(``doc_ids``: the question's source documents, Factbook ones unless ``dataset`` names another dataset) with label ``hallucinated``,
``supported`` or ``abstained`` (other keys are ignored). The figures follow HaluEval/FActScore practice: a judge
is reported with its agreement with labels on a balanced set, never alone.

- ``detected``: share of hallucinated items judged hallucinated;
- ``false_alarm``: share of supported items judged hallucinated;
- ``balanced_accuracy``: (detected + 1 - false_alarm) / 2;
- ``abstention_accuracy``: share of abstained items judged abstained;
- ``unknown``: items the judge could not decide; they are excluded from the three shares above.
"""

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import rag_corpus
from toolkit.judges.base import LABELS, Judge, JudgeInput, Verdict
from toolkit.judges.evidence import FACTBOOK, reference
from toolkit.metrics.stats import cohen_kappa
from toolkit.registry import Registry

JUDGE_SET_DIR = rag_corpus.ROOT / "judge"


class LabelledSetError(ValueError):
    """A labelled file that cannot be read; the message names the file, the line and the field."""


def _require(condition: bool, path: Path, line: int, message: str) -> None:
    if not condition:
        raise LabelledSetError(f"{path}, line {line}: {message}")


def load_labelled(path: str | Path) -> list[tuple[JudgeInput, str, dict]]:
    """(judge input, label, raw row) per line; blank lines are skipped, anything malformed raises."""
    path = Path(path)
    try:
        raw = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise LabelledSetError(f"{path}: no such file") from None
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise LabelledSetError(f"{path}, line {line}: not UTF-8 text (byte {error.start}); save the file as UTF-8") from None
    items = []
    for number, text in enumerate(raw.splitlines(), start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except ValueError as error:
            raise LabelledSetError(f"{path}, line {number}: not a JSON object ({error.msg})") from None
        _require(isinstance(row, dict), path, number, "not a JSON object")
        for field in ("question", "answer", "label"):
            _require(field in row, path, number, f'missing field "{field}"')
            _require(isinstance(row[field], str), path, number, f'field "{field}" must be a string')
        _require(row["label"] in LABELS, path, number,
                 f'field "label" is {row["label"]!r}; expected one of {", ".join(LABELS)}')
        gold = row.get("gold") or []
        _require(isinstance(gold, list) and all(isinstance(g, str) for g in gold), path, number,
                 'field "gold" must be a list of strings')
        for field in ("context", "kind"):
            _require(isinstance(row.get(field) or "", str), path, number, f'field "{field}" must be a string')
        tolerance = row.get("tolerance")
        _require(tolerance is None or isinstance(tolerance, int | float), path, number,
                 'field "tolerance" must be a number or null')
        doc_ids = row.get("doc_ids") or []
        _require(isinstance(doc_ids, list) and all(isinstance(d, str) for d in doc_ids), path, number,
                 'field "doc_ids" must be a list of strings')
        item = JudgeInput(question=row["question"], answer=row["answer"], gold=tuple(gold),
                          context=row.get("context") or "", kind=row.get("kind") or "", tolerance=tolerance,
                          reference=reference(doc_ids, row.get("dataset") or FACTBOOK))
        items.append((item, row["label"], row))
    _require(bool(items), path, 1, "no labelled items (the file is empty)")
    return items


LABELLED_SETS = Registry("labelled set")
"""Formats ``tierlab judge eval`` reads: a path is a labelled JSONL file; ``<name>[:<part>]`` a registered set."""
LABELLED_SETS.register("jsonl", "toolkit.judges.metaeval:load_labelled")
LABELLED_SETS.register("halueval", "toolkit.judges.halueval:load_halueval")


def load_set(name: str | Path) -> list[tuple[JudgeInput, str, dict]]:
    """A labelled file (``path.jsonl`` or ``jsonl:path``) or a registered set (``halueval``, ``halueval:develop``)."""
    text = str(name)
    prefix, _, arg = text.partition(":")
    if Path(text).exists() or (prefix not in LABELLED_SETS and ("/" in text or text.endswith(".jsonl"))):
        return load_labelled(text)  # missing files get load_labelled's "no such file"
    if prefix == "jsonl" and not arg:
        raise LabelledSetError("jsonl needs a path: jsonl:/path/to/labelled.jsonl")
    try:
        loader = LABELLED_SETS.get(prefix)
    except KeyError as error:  # UnknownNameError: "did you mean"
        raise LabelledSetError(f"{text}: no such file, and {error}") from None
    return loader(arg)


def evaluate(judges: Mapping[str, Judge], items: list[tuple[JudgeInput, str, dict]],
             progress: Callable[[int], None] | None = None) -> dict[str, list[Verdict]]:
    """Every judge's verdicts on every item, in item order, through the stage experiments use (``judge_all``)."""
    from toolkit.judges.answers import judge_all

    verdicts: dict[str, list[Verdict]] = {name: [] for name in judges}
    for i, (item, _, _) in enumerate(items):
        for name, verdict in judge_all(judges, item).items():
            verdicts[name].append(verdict)
        if progress:
            progress(i + 1)
    return verdicts


def human_agreement(verdicts: Mapping[str, Verdict], marks: Mapping[str, bool]) -> dict[str, float]:
    """Cohen's kappa between a judge and the review widget's human marks, question by question.

    A person marks an answer correct or incorrect; the judge's counterpart is "supported" versus "hallucinated".
    Questions the judge found abstaining or could not decide are left out (a refusal is neither).
    """
    shared = [q for q in marks if q in verdicts and verdicts[q].label in ("supported", "hallucinated")]
    return cohen_kappa([verdicts[q].label == "supported" for q in shared], [bool(marks[q]) for q in shared])
