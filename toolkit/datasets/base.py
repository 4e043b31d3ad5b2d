"""The dataset value type, its error and deterministic sampling.

A dataset is questions plus the documents that hold their answers; every loader (built-in Factbook, JSONL, SQuAD,
BEIR) produces the same frozen ``Dataset`` so methods, retrieval and the experiment runner never care where it came from.
"""

import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from toolkit.records import Question, QuestionKind


class DatasetError(ValueError):
    """A dataset file that cannot be used; the message names the file, line and field, and how to fix it."""

    def __init__(self, path, problem: str, line: int | None = None, field: str | None = None, fix: str = ""):
        where = (
            f"{path}"
            + (f", line {line}" if line is not None else "")
            + (f", field {field!r}" if field else "")
        )
        super().__init__(f"{where}: {problem}" + (f" Fix: {fix}" if fix else ""))
        self.path, self.line, self.field = str(path), line, field


class Dataset(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        description="What load_dataset was called with, e.g. 'factbook' or 'jsonl:/data/qa.jsonl'."
    )
    split: str = ""
    questions: tuple[Question, ...]
    documents: dict[str, str] = Field(description="Document id -> text: the corpus retrieval indexes.")

    def question(self, qid: str) -> Question:
        for q in self.questions:
            if q.id == qid:
                return q
        raise KeyError(f"no question {qid!r} in dataset {self.name!r}")

    def gold_doc_ids(self, questions: Iterable[Question] | None = None) -> tuple[str, ...]:
        """Documents the given questions (default: all) need, in first-use order."""
        ids = (d for q in (self.questions if questions is None else questions) for d in q.doc_ids)
        return tuple(dict.fromkeys(ids))


def sample(
    dataset: Dataset, n: int, seed: int = 0, kinds: Iterable[QuestionKind] | None = None
) -> tuple[Question, ...]:
    """``n`` questions, deterministic for a seed, stratified by kind (round-robin over kinds, so a small sample
    still covers every kind), returned in dataset order."""
    return sample_from(dataset.questions, n, seed, kinds)


def sample_from(
    questions: Iterable[Question], n: int, seed: int = 0, kinds: Iterable[QuestionKind] | None = None
) -> tuple[Question, ...]:
    """``sample`` over any sequence of questions. Samples are nested: for one seed, the ``n`` questions are the first
    ``n`` picks of any larger sample, so smaller arms of an experiment ask a subset of what bigger arms ask."""
    questions = tuple(questions)
    wanted = set(kinds) if kinds is not None else None
    groups: dict[str, list[Question]] = defaultdict(list)
    for q in questions:
        if wanted is None or q.kind in wanted:
            groups[q.kind].append(q)
    rng = random.Random(seed)
    queues = []
    for kind in sorted(groups):
        members = groups[kind][:]
        rng.shuffle(members)
        queues.append(members)
    picked: set[str] = set()
    while len(picked) < n and any(queues):
        for queue in queues:
            if queue and len(picked) < n:
                picked.add(queue.pop().id)
    return tuple(q for q in questions if q.id in picked)


def with_distractors(
    dataset: Dataset, doc_ids: Iterable[str], distractors: int, seed: int = 0
) -> tuple[str, ...]:
    """``doc_ids`` plus ``distractors`` other documents picked deterministically, so a small index is not trivial."""
    return distractors_for(dataset.documents, doc_ids, distractors, seed)


def distractors_for(
    corpus: Iterable[str], doc_ids: Iterable[str], distractors: int, seed: int = 0
) -> tuple[str, ...]:
    """``with_distractors`` over any collection of document ids."""
    chosen = list(dict.fromkeys(doc_ids))
    others = sorted(set(corpus) - set(chosen))
    random.Random(seed).shuffle(others)
    return tuple(chosen + others[:distractors])


class DatasetFormat(NamedTuple):
    """One data format, registered once in ``LOADERS``: how to load it and which files it reads.

    ``files`` feeds the one dataset digest (run identity and MLflow alike), so a format that reads a side file
    (a JSONL corpus next to the questions) cannot be edited without starting a new run."""

    load: Callable[[str, str], Dataset]
    files: Callable[[str, str], list[Path]]
