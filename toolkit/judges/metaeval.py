"""Meta-evaluation: how often a judge agrees with labelled answers, and the judge card experiments log.

A labelled line is ``{"question", "answer", "label", "gold"?, "context"?, "kind"?}`` with label ``hallucinated``,
``supported`` or ``abstained`` (other keys are ignored). The figures follow HaluEval/FActScore practice: a judge
is reported with its agreement with labels on a balanced set, never alone.

- ``detected``: share of hallucinated items judged hallucinated;
- ``false_alarm``: share of supported items judged hallucinated;
- ``balanced_accuracy``: (detected + 1 - false_alarm) / 2;
- ``abstention_accuracy``: share of abstained items judged abstained;
- ``unknown``: items the judge could not decide; they are excluded from the three shares above.
"""

import json
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import rag_corpus
from toolkit.judges.base import LABELS, Judge, JudgeInput, Verdict
from toolkit.registry import Registry

JUDGE_SET_DIR = rag_corpus.ROOT / "judge"
METAEVAL_FILE = JUDGE_SET_DIR / "metaeval.json"
FIGURES = ("n", "balanced_accuracy", "detected", "false_alarm", "abstention_accuracy", "unknown")


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
        item = JudgeInput(question=row["question"], answer=row["answer"], gold=tuple(gold),
                          context=row.get("context") or "", kind=row.get("kind") or "")
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


def _share(hits: int, total: int) -> float:
    return hits / total if total else math.nan


def figures(labels: Iterable[str], verdicts: Iterable[Verdict], judge: str) -> dict:
    """The meta-evaluation figures of one judge (see the module docstring)."""
    pairs = list(zip(labels, (v.label for v in verdicts), strict=True))
    known = [(label, said) for label, said in pairs if said != "unknown"]

    def share(label: str, said: str) -> float:
        group = [s for lab, s in known if lab == label]
        return _share(sum(s == said for s in group), len(group))

    detected, false_alarm = share("hallucinated", "hallucinated"), share("supported", "hallucinated")
    return {
        "judge": judge,
        "n": len(pairs),
        "balanced_accuracy": (detected + 1 - false_alarm) / 2,
        "detected": detected,
        "false_alarm": false_alarm,
        "abstention_accuracy": share("abstained", "abstained"),
        "unknown": len(pairs) - len(known),
    }


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


def subsets(items: list[tuple[JudgeInput, str, dict]], verdicts: list[Verdict], name: str) -> dict[str, dict]:
    """Figures on the items judged from the context only, from the gold answers only, and from both."""
    groups = {
        "context_only": lambda i: bool(i.context) and not i.gold,
        "gold_only": lambda i: bool(i.gold) and not i.context,
        "gold_and_context": lambda i: bool(i.gold) and bool(i.context),
    }
    out = {}
    for key, keep in groups.items():
        chosen = [(label, v) for (item, label, _), v in zip(items, verdicts, strict=True) if keep(item)]
        if chosen:
            out[key] = figures([label for label, _ in chosen], [v for _, v in chosen], name)
    return out


def record(path: Path, name: str, version: str, split: str, result: dict, parts: dict[str, dict]) -> None:
    """Merge one judge's figures into the committed ``metaeval.json`` (product data, read by :func:`judge_card`)."""
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    data.setdefault(name, {})[split] = {
        "version": version,
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        **{k: _round(result[k]) for k in FIGURES},
        "subsets": {key: {k: _round(f[k]) for k in FIGURES} for key, f in parts.items()},
    }
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _round(value):
    """4 decimals; an undefined share (no item of that label) is stored as null, not NaN (valid JSON)."""
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    return value


def judge_card(name: str, split: str = "test") -> dict:
    """The judge's name, version and its meta-evaluation figures on the shipped ``split`` (logged to MLflow).

    ``name`` is a judge's name (``offline``, ``llm:<catalog id>``; the deprecated ``rules`` and a bare catalog id
    are accepted). ``measured`` is False when no figures exist.
    """
    from toolkit.judges.base import DEPRECATED_NAMES, JUDGES, LLM_PREFIX

    data = json.loads(METAEVAL_FILE.read_text(encoding="utf-8")) if METAEVAL_FILE.exists() else {}
    key = DEPRECATED_NAMES.get(name, name)
    if key not in data and key not in JUDGES and not key.startswith(LLM_PREFIX):
        key = LLM_PREFIX + key
    splits = data.get(key, {})
    if split not in splits:  # a slow judge may be measured on a named sample of the split ("test_every4th")
        split = next((s for s in sorted(splits) if s.startswith(f"{split}_")), split)
    entry = splits.get(split)
    if entry is None:
        return {"name": key, "version": "", "split": split, "measured": False, "figures": {}}
    return {"name": key, "version": entry["version"], "split": split, "measured": True, "date": entry["date"],
            "figures": {k: entry[k] for k in FIGURES}}


REAL_ANSWER_SPLIT = "real_answers"
"""Judge cards measured on real model answers labelled by people (``rag_corpus/real_answers/``) name a split
starting with this; figures measured on templated answers are regression checks, shown on no card."""


def is_real_answer_card(card: dict) -> bool:
    """Whether a judge card holds figures measured on real answers labelled by people (the only ones MLflow and the
    panels show as a judge's accuracy)."""
    return bool(card.get("measured")) and str(card.get("split", "")).startswith(REAL_ANSWER_SPLIT)


def card_text(card: dict) -> str:
    """How good a judge is, in words: its figures on real answers labelled by people, or that it was not measured
    there yet (a figure from templated answers would flatter it, so none is shown)."""
    if not is_real_answer_card(card):
        return "not yet measured on real answers labelled by people"
    figures = card.get("figures", {})
    shown = [f"{key.replace('_', ' ')} {value:.2f}" for key, value in figures.items()
             if key in ("balanced_accuracy", "detected", "false_alarm") and isinstance(value, int | float)]
    return f"{', '.join(shown)} on {figures.get('n', '?')} real answers ({card.get('version', '')})"


def judges_text(records) -> str:
    """The judges that produced a run's verdicts, by the name a spec uses and the version that judged, with how good
    each is: ``offline (claims-v4): not yet measured on real answers labelled by people``."""
    used: dict[str, set[str]] = {}
    for record in records:
        for name, verdict in record.verdicts.items():
            used.setdefault(name, set()).add(verdict.version or verdict.judge)
    return "; ".join(f"{name} ({', '.join(sorted(versions))}): {card_text(judge_card(name))}"
                     for name, versions in used.items())


def cohen_kappa(a: list[bool], b: list[bool]) -> dict[str, float]:
    """Raw agreement and Cohen's kappa between two binary raters on the same items (nan when undefined)."""
    n = len(a)
    if n == 0 or n != len(b):
        return {"n": float(n), "agreement": math.nan, "kappa": math.nan}
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pa, pb = sum(a) / n, sum(b) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    kappa = (observed - expected) / (1 - expected) if expected < 1 else math.nan
    return {"n": float(n), "agreement": observed, "kappa": kappa}


def human_agreement(verdicts: Mapping[str, Verdict], marks: Mapping[str, bool]) -> dict[str, float]:
    """Cohen's kappa between a judge and the review widget's human marks, question by question.

    A person marks an answer correct or incorrect; the judge's counterpart is "supported" versus "hallucinated".
    Questions the judge found abstaining or could not decide are left out (a refusal is neither).
    """
    shared = [q for q in marks if q in verdicts and verdicts[q].label in ("supported", "hallucinated")]
    return cohen_kappa([verdicts[q].label == "supported" for q in shared], [bool(marks[q]) for q in shared])
