"""Dataset loaders: the built-in Factbook corpus and three bring-your-own-data formats.

Each loader takes ``(arg, split)`` and returns a ``Dataset``. Every problem with a user's file is raised as a
``DatasetError`` naming the file, the line and the field, because a silently skipped row would bias a benchmark.
"""

import csv
import json
import re
from pathlib import Path

from pydantic import ValidationError

import rag_corpus
from toolkit.datasets.base import Dataset, DatasetError, DatasetFormat
from toolkit.records import Question

FACTBOOK_DIR = rag_corpus.ROOT
MAX_LINE_BYTES = 1_000_000
"""Longest JSONL line read: a 50 MB "question" is a broken export, not a prompt (it was sent, stored and logged)."""
MAX_CHARS = {"id": 200, "question": 20_000, "answers": 2_000, "list_answers": 2_000, "context": 500_000,
             "text": 500_000}
"""Longest value per field (each item of a list field): a prompt must fit a model, an id a file name."""


def read_text(path: Path) -> str:
    if not path.is_file():
        raise DatasetError(
            path, "file not found.", fix="check the path (relative paths start from the current directory)."
        )
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DatasetError(
            path,
            f"not UTF-8 (byte {data[err.start]:#x} at offset {err.start}).",
            line=line,
            fix="re-save the file as UTF-8.",
        ) from None


def read_jsonl(path: Path) -> list[tuple[int, dict]]:
    """(line number, object) for every non-blank line."""
    rows = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        if len(line) > MAX_LINE_BYTES // 4 and (size := len(line.encode("utf-8"))) > MAX_LINE_BYTES:
            raise DatasetError(path, f"the line is {size:,} bytes, over the {MAX_LINE_BYTES:,}-byte limit.",
                               line=number, fix="split or shorten that record (is the file a broken export?).")
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DatasetError(path, f"invalid JSON ({err.msg}).", line=number) from None
        if not isinstance(row, dict):
            raise DatasetError(path, "each line must be a JSON object.", line=number)
        rows.append((number, row))
    return rows


def require(row: dict, field: str, path: Path, line: int, kind: type | tuple = str):
    value = row.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DatasetError(path, "missing or empty required field.", line=line, field=field)
    if not isinstance(value, kind):
        raise DatasetError(
            path,
            f"expected {getattr(kind, '__name__', kind)}, got {type(value).__name__}.",
            line=line,
            field=field,
        )
    return value


def check_size(path: Path, line: int | None, field: str, value, where: str | None = None):
    """``value``, or a ``DatasetError`` naming the line and field if it (or an item of a list) exceeds ``MAX_CHARS``;
    ``where`` locates the record in a JSON file without lines (SQuAD)."""
    limit = MAX_CHARS[field]
    for item in value if isinstance(value, list | tuple) else [value]:
        if isinstance(item, str | int) and len(str(item)) > limit:
            raise DatasetError(path, f"{len(str(item)):,} characters, over the {limit:,}-character limit.",
                               line=line, field=f"{where}.{field}" if where else field,
                               fix="shorten it (or split the record).")
    return value


def string_list(row: dict, field: str, path: Path, line: int) -> tuple[str, ...]:
    value = row.get(field, [])
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DatasetError(path, "expected a string or a list of strings.", line=line, field=field)
    return tuple(value)


def make_question(path: Path, line: int | None, *, where: str | None = None, **fields) -> Question:
    """A ``Question`` from one record, its size and field errors naming ``line`` (or ``where`` in a JSON file)."""
    for name in ("id", "question", "answers", "context"):
        if fields.get(name) is not None:
            check_size(path, line, name, fields[name], where)
    try:
        return Question(**fields)
    except ValidationError as err:
        first = err.errors()[0]
        raise DatasetError(
            path, first["msg"] + ".", line=line, field=".".join(map(str, first["loc"]))
        ) from None


def check_unique(path: Path, items: list[tuple[int, str]], field: str) -> None:
    seen: dict[str, int] = {}
    for line, key in items:
        if key in seen:
            raise DatasetError(
                path, f"duplicate id {key!r} (first on line {seen[key]}).", line=line, field=field
            )
        seen[key] = line


def finish(
    name: str, split: str, questions: list[Question], documents: dict[str, str], path: Path
) -> Dataset:
    if not questions:
        raise DatasetError(path, f"no questions for split {split!r}.")
    missing = sorted({d for q in questions for d in q.doc_ids} - set(documents))
    if missing and documents:
        raise DatasetError(
            path,
            f"questions cite unknown document ids {missing[:5]}.",
            field="doc_ids",
            fix="add those documents to the corpus or correct the ids.",
        )
    return Dataset(name=name, split=split, questions=tuple(questions), documents=documents)


# ---------------------------------------------------------------- built-in


def load_factbook(arg: str = "", split: str = "dev") -> Dataset:
    """The default corpus committed under rag_corpus/ (rebuild with `tierlab corpus build`)."""
    root = Path(arg) if arg else FACTBOOK_DIR
    path = root / "questions" / f"{split}.jsonl"
    if not path.is_file():
        splits = sorted(p.stem for p in (root / "questions").glob("*.jsonl"))
        raise DatasetError(
            path, f"no split {split!r}.", fix=f"use one of {splits} or run `tierlab corpus build`."
        )
    questions = [make_question(path, line, **row) for line, row in read_jsonl(path)]
    documents = {p.stem: p.read_text(encoding="utf-8") for p in sorted((root / "docs").glob("*.md"))}
    if not documents:
        raise DatasetError(root / "docs", "empty corpus.", fix="run `tierlab corpus build`.")
    return finish("factbook", split, questions, documents, path)


# ---------------------------------------------------------------- JSONL


def load_jsonl(arg: str, split: str = "all") -> Dataset:
    """One question per line: ``question``, ``answers`` (string or list) or ``list_answers`` (list questions),
    optional ``id``, ``kind``, ``tolerance``, ``doc_ids``, ``context``, ``split``. The corpus is every ``context``
    (document id = the row's first doc id, else ``ctx-<id>``) plus, if present, ``<name>.corpus.jsonl`` next to the
    file with ``{"id": ..., "text": ...}`` lines. Rows without a ``split`` field belong to every split."""
    path = Path(arg)
    rows = read_jsonl(path)
    check_unique(path, [(line, str(row["id"])) for line, row in rows if "id" in row], "id")
    questions, documents = [], {}
    for line, row in rows:
        if split not in ("all", "") and row.get("split", split) != split:
            continue
        qid = str(row.get("id", f"q{line}"))
        text = require(row, "question", path, line)
        if "answers" not in row and "list_answers" not in row:
            raise DatasetError(
                path,
                "missing required field (use [] for an unanswerable question).",
                line=line,
                field="answers",
            )
        list_answers = string_list(row, "list_answers", path, line)
        answers = list_answers or string_list(row, "answers", path, line)
        kind = row.get("kind") or ("list" if list_answers else "short" if answers else "unanswerable")
        doc_ids = string_list(row, "doc_ids", path, line)
        context = row.get("context")
        if context is not None:
            doc_id = doc_ids[0] if doc_ids else f"ctx-{qid}"
            documents[doc_id] = require(row, "context", path, line)
            doc_ids = doc_ids or (doc_id,)
        questions.append(
            make_question(
                path,
                line,
                id=qid,
                question=text,
                kind=kind,
                answers=answers,
                tolerance=row.get("tolerance"),
                doc_ids=doc_ids,
                dataset=path.stem,
                context=context,
            )
        )
    corpus = jsonl_files(arg, split)[1]
    if corpus.exists():
        corpus_rows = read_jsonl(corpus)
        check_unique(
            corpus, [(line, str(require(r, "id", corpus, line, (str, int)))) for line, r in corpus_rows], "id"
        )
        documents |= {str(r["id"]): check_size(corpus, line, "text", require(r, "text", corpus, line))
                      for line, r in corpus_rows}
    return finish(f"jsonl:{arg}", split, questions, documents, path)


# ---------------------------------------------------------------- SQuAD


def load_squad(arg: str, split: str = "all") -> Dataset:
    """SQuAD v1/v2 JSON: each paragraph becomes a document ``<title>-<n>``; ``is_impossible`` questions are
    unanswerable. The split is the file itself (``split`` is recorded, not filtered)."""
    path = Path(arg)
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise DatasetError(path, f"invalid JSON ({err.msg}).", line=err.lineno) from None
    articles = data.get("data") if isinstance(data, dict) else None
    if not isinstance(articles, list) or not articles:
        raise DatasetError(
            path, "no articles: expected {'data': [{'title', 'paragraphs': [...]}]}.", field="data"
        )
    questions, documents, seen = [], {}, {}
    for a, article in enumerate(articles):
        title = re.sub(r"\W+", "_", str(article.get("title", f"article{a}"))).strip("_") or f"article{a}"
        for p, paragraph in enumerate(article.get("paragraphs") or []):
            where = f"data[{a}].paragraphs[{p}]"
            context = paragraph.get("context")
            if not isinstance(context, str) or not context.strip():
                raise DatasetError(path, "missing or empty paragraph text.", field=f"{where}.context")
            doc_id = f"{title}-{p}"
            documents[doc_id] = context
            for i, qa in enumerate(paragraph.get("qas") or []):
                field = f"{where}.qas[{i}]"
                qid, text = qa.get("id"), qa.get("question")
                if not qid or not isinstance(text, str) or not text.strip():
                    raise DatasetError(path, "each qa needs 'id' and 'question'.", field=field)
                if qid in seen:
                    raise DatasetError(
                        path, f"duplicate id {qid!r} (first at {seen[qid]}).", field=f"{field}.id"
                    )
                seen[qid] = field
                impossible = bool(qa.get("is_impossible"))
                answers = tuple(dict.fromkeys(ans.get("text", "") for ans in qa.get("answers") or []))
                if not impossible and not all(answers):
                    raise DatasetError(
                        path, "answerable question without answer texts.", field=f"{field}.answers"
                    )
                questions.append(
                    make_question(
                        path,
                        None,
                        where=field,
                        id=str(qid),
                        question=text,
                        kind="unanswerable" if impossible else "short",
                        answers=() if impossible else answers,
                        doc_ids=() if impossible else (doc_id,),
                        dataset=path.stem,
                        context=context,
                    )
                )
    if not documents:
        raise DatasetError(path, "empty corpus: no paragraphs.", field="data[].paragraphs")
    return finish(f"squad:{arg}", split, questions, documents, path)


# ---------------------------------------------------------------- BEIR


def load_beir(arg: str, split: str = "test") -> Dataset:
    """A BEIR folder: ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl`` (``_id``, ``text``) and
    ``qrels/<split>.tsv`` (query-id, corpus-id, score). BEIR has no answer strings, so questions are kind ``long``
    and serve retrieval metrics (recall@k, MRR) and judge-based scoring."""
    root = Path(arg)
    corpus_path, queries_path, qrels_path = (
        root / "corpus.jsonl",
        root / "queries.jsonl",
        root / "qrels" / f"{split}.tsv",
    )
    corpus_rows = read_jsonl(corpus_path)
    check_unique(
        corpus_path,
        [(line, str(require(r, "_id", corpus_path, line, (str, int)))) for line, r in corpus_rows],
        "_id",
    )
    documents = {}
    for line, row in corpus_rows:
        text = check_size(corpus_path, line, "text", require(row, "text", corpus_path, line))
        title = row.get("title") or ""
        documents[str(row["_id"])] = f"# {title}\n\n{text}" if title else text
    if not documents:
        raise DatasetError(corpus_path, "empty corpus.", fix="add at least one {'_id', 'text'} line.")
    query_rows = read_jsonl(queries_path)
    check_unique(
        queries_path,
        [(line, str(require(r, "_id", queries_path, line, (str, int)))) for line, r in query_rows],
        "_id",
    )
    queries = {str(r["_id"]): (line, check_size(queries_path, line, "question", require(r, "text", queries_path, line)))
               for line, r in query_rows}
    if not qrels_path.is_file():
        splits = sorted(p.stem for p in (root / "qrels").glob("*.tsv"))
        raise DatasetError(qrels_path, f"no qrels for split {split!r}.", fix=f"use one of {splits}.")
    relevant: dict[str, list[str]] = {}
    lines = read_text(qrels_path).splitlines()
    for number, row in enumerate(csv.reader(lines, delimiter="\t"), start=1):
        if not row or (number == 1 and row[0] in ("query-id", "query_id", "qid")):
            continue
        if len(row) < 3:
            raise DatasetError(
                qrels_path, "expected 3 tab-separated columns: query-id, corpus-id, score.", line=number
            )
        qid, doc_id, score = row[0], row[1], row[2]
        if qid not in queries:
            raise DatasetError(qrels_path, f"unknown query id {qid!r}.", line=number, field="query-id")
        if doc_id not in documents:
            raise DatasetError(qrels_path, f"unknown corpus id {doc_id!r}.", line=number, field="corpus-id")
        try:
            if float(score) > 0:
                relevant.setdefault(qid, []).append(doc_id)
        except ValueError:
            raise DatasetError(
                qrels_path, f"score {score!r} is not a number.", line=number, field="score"
            ) from None
    questions = [
        Question(id=qid, question=queries[qid][1], kind="long", doc_ids=tuple(docs), dataset=root.name)
        for qid, docs in relevant.items()
    ]
    return finish(f"beir:{arg}", split, questions, documents, qrels_path)


# ---------------------------------------------------------------- the files each format reads (for the digest)


def factbook_files(arg: str, split: str) -> list[Path]:
    root = Path(arg) if arg else FACTBOOK_DIR
    return [root / "questions" / f"{split}.jsonl", *sorted((root / "docs").glob("*.md"))]


def jsonl_files(arg: str, split: str) -> list[Path]:
    path = Path(arg)
    return [path, path.with_name(path.name.removesuffix(".jsonl") + ".corpus.jsonl")]


def squad_files(arg: str, split: str) -> list[Path]:
    return [Path(arg)]


def beir_files(arg: str, split: str) -> list[Path]:
    root = Path(arg)
    return [root / "queries.jsonl", root / "qrels" / f"{split}.tsv", root / "corpus.jsonl"]


FACTBOOK = DatasetFormat(load_factbook, factbook_files)
JSONL = DatasetFormat(load_jsonl, jsonl_files)
SQUAD = DatasetFormat(load_squad, squad_files)
BEIR = DatasetFormat(load_beir, beir_files)
