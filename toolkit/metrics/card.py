"""The scorer card: how often the ``accuracy`` scorer agrees with people who read the answers.

The real-answer labelled set (``rag_corpus/real_answers/{dev,test}.jsonl``: real model outputs produced through
TierLab, each labelled ``correct`` / ``incorrect`` by a reader, never by a program) is scored here by the same
``accuracy`` metric experiments use. Agreement is reported per question kind with its n and a Wilson 95% interval,
the way a judge is reported with its agreement with human labels. ``record`` writes the committed card
(``scorer_card.json``) that the README shows and MLflow logs with every run (``scorer_card``).

Extraction may be tuned on dev disagreements; the test split is only measured.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import rag_corpus
from toolkit.extraction import SCORERS_VERSION
from toolkit.metrics.stats import proportion_ci
from toolkit.records import Answer, Question, QuestionKind

REAL_ANSWERS_DIR = rag_corpus.ROOT / "real_answers"
CARD_FILE = REAL_ANSWERS_DIR / "scorer_card.json"
METRIC = "accuracy"
ACCURACY_LABELS = ("correct", "incorrect")


class LabelledAnswersError(ValueError):
    """A labelled file that cannot be read; the message names the file, the line and the field, and the fix."""


@dataclass(frozen=True)
class LabelledAnswer:
    """One real answer with the reader's accuracy label."""

    id: str
    question: Question
    answer: str
    correct: bool


def _require(condition: bool, path: Path, line: int, message: str) -> None:
    if not condition:
        raise LabelledAnswersError(f"{path}, line {line}: {message}")


def load_labelled_answers(path: str | Path) -> list[LabelledAnswer]:
    """Every line of a real-answer labelled file (``rag_corpus/real_answers/LABELS_FORMAT``: question, kind, gold,
    tolerance, answer, accuracy); anything malformed raises ``LabelledAnswersError``."""
    from typing import get_args

    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LabelledAnswersError(f"{path}: no such file (the labelled set is built by "
                                   "rag_corpus/real_answers/assemble.py)") from None
    except UnicodeDecodeError:
        raise LabelledAnswersError(f"{path}: not UTF-8 text; save the file as UTF-8") from None
    kinds, items = get_args(QuestionKind), []
    for number, text in enumerate(raw.splitlines(), start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except ValueError as error:
            raise LabelledAnswersError(f"{path}, line {number}: not a JSON object ({error.msg})") from None
        _require(isinstance(row, dict), path, number, "not a JSON object")
        for field in ("question", "answer", "kind", "accuracy"):
            _require(isinstance(row.get(field), str), path, number, f'field "{field}" must be a string')
        _require(row["accuracy"] in ACCURACY_LABELS, path, number,
                 f'field "accuracy" is {row["accuracy"]!r}; expected one of {", ".join(ACCURACY_LABELS)}')
        _require(row["kind"] in kinds, path, number, f'field "kind" is {row["kind"]!r}; expected one of {", ".join(kinds)}')
        gold = row.get("gold") or []
        _require(isinstance(gold, list) and all(isinstance(g, str) for g in gold), path, number,
                 'field "gold" must be a list of strings')
        tolerance = row.get("tolerance")
        _require(tolerance is None or isinstance(tolerance, int | float), path, number,
                 'field "tolerance" must be a number or null')
        item_id = str(row.get("id") or f"{path.name}:{number}")
        question = Question(id=str(row.get("question_id") or item_id), question=row["question"], kind=row["kind"],
                            answers=tuple(gold), tolerance=tolerance)
        items.append(LabelledAnswer(item_id, question, row["answer"], row["accuracy"] == "correct"))
    _require(bool(items), path, 1, "no labelled answers (the file is empty)")
    return items


def score(item: LabelledAnswer) -> bool:
    """What the ``accuracy`` scorer says about one labelled answer."""
    from toolkit.metrics import get_metric

    return bool(get_metric(METRIC)(item.question, Answer(text=item.answer, method="labelled")))


def _figures(agree: int, n: int) -> dict:
    interval = proportion_ci(agree, n)
    return {"n": n, "agree": agree, "agreement": round(interval.value, 4), "low": round(interval.low, 4),
            "high": round(interval.high, 4)}


def agreement(items: list[LabelledAnswer]) -> tuple[dict[str, dict], list[tuple[LabelledAnswer, bool]]]:
    """(figures per kind and ``all``: n, agree, agreement, Wilson 95% low/high; the disagreements with what the
    scorer said)."""
    said = [(item, score(item)) for item in items]
    by_kind: dict[str, list[bool]] = {}
    for item, verdict in said:
        by_kind.setdefault(item.question.kind, []).append(verdict == item.correct)
    figures = {kind: _figures(sum(hits), len(hits)) for kind, hits in sorted(by_kind.items())}
    figures["all"] = _figures(sum(sum(h) for h in by_kind.values()), len(said))
    return figures, [(item, verdict) for item, verdict in said if verdict != item.correct]


def record(split: str, figures: dict[str, dict], path: Path | None = None) -> None:
    """Merge one split's figures into the card (default: the committed one, read by ``scorer_card``)."""
    path = path or CARD_FILE
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    data.setdefault("scorer", METRIC)
    data.setdefault("splits", {})[split] = {
        "version": SCORERS_VERSION, "date": datetime.now(UTC).strftime("%Y-%m-%d"), "kinds": figures,
    }
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def scorer_card(split: str = "test", path: Path | None = None) -> dict:
    """The accuracy scorer's agreement with readers on the shipped ``split`` (logged to MLflow with every run).

    ``measured`` is False when the card holds no figures for the split; ``current`` is False when they were measured
    with another version of the extraction than the one running now."""
    path = path or CARD_FILE
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    entry = data.get("splits", {}).get(split)
    if entry is None:
        return {"scorer": METRIC, "split": split, "measured": False, "version": "", "current": False, "kinds": {}}
    return {"scorer": METRIC, "split": split, "measured": True, "version": entry["version"], "date": entry["date"],
            "current": entry["version"] == SCORERS_VERSION, "kinds": entry["kinds"]}


README_START, README_END = "<!-- scorer-card:start -->", "<!-- scorer-card:end -->"
KINDS_SHOWN = ("short", "numeric", "list", "multihop", "unanswerable", "all")


def card_markdown(path: Path | None = None) -> str:
    """The README's scorer table, rendered from the card file (a test keeps the README equal to it)."""
    rows = ["| split | version | " + " | ".join(KINDS_SHOWN) + " |", "|---" * (len(KINDS_SHOWN) + 2) + "|"]
    for split in ("test", "dev"):
        card = scorer_card(split, path)
        if not card["measured"]:
            continue
        cells = [f"{f['agreement']:.3f} [{f['low']:.2f}, {f['high']:.2f}] n={f['n']}" if (f := card["kinds"].get(k))
                 else "–" for k in KINDS_SHOWN]
        rows.append(f"| {split} | {card['version']} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def readme_block(path: Path | None = None) -> str:
    return f"{README_START}\n{card_markdown(path)}\n{README_END}"
