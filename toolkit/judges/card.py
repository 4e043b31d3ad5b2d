"""Judge cards: how good each judge is, measured on answers it was never built from, with n and 95% intervals.

A card holds a judge's figures on exactly two labelled sets (``CARD_SETS``), overall and per setting (what the
judge was given: gold only, context only, both, neither):

- ``real_answers_test``: the real-answer test split (``rag_corpus/real_answers/test.jsonl``), answers of real
  models labelled by people; its overall figures are the card's headline (``figures``);
- ``halueval_card``: HaluEval QA, the card part of the even lines (``halueval:card``).

Shares (detected, false alarms, abstention accuracy) carry Wilson intervals (scipy ``binomtest``); balanced
accuracy the interval combining the two (Newcombe's hybrid score method). The templated set under ``rag_corpus/judge/`` is a regression
test only and is on no card. ``tierlab judge eval --record`` writes ``CARD_FILE``; MLflow runs, the panels and the
README read it through :func:`judge_card`.
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import rag_corpus
from toolkit.judges.base import Verdict

CARD_FILE = rag_corpus.ROOT / "judge" / "cards.json"
REAL_ANSWERS_TEST = rag_corpus.ROOT / "real_answers" / "test.jsonl"
CARD_SETS = {"real_answers_test": str(REAL_ANSWERS_TEST), "halueval_card": "halueval:card"}
"""Card set -> what ``load_set`` reads for it; the first is the headline."""
HEADLINE = "real_answers_test"
CONFIDENCE = 0.95
SETTINGS = {
    "gold_only": (True, False), "context_only": (False, True), "gold_and_context": (True, True), "neither": (False, False),
}
"""Setting -> (has gold, has context) of the items in it."""


def _wilson(hits: int, n: int) -> tuple[float, float] | None:
    from scipy.stats import binomtest

    if not n:
        return None
    ci = binomtest(hits, n).proportion_ci(CONFIDENCE, method="wilson")
    return ci.low, ci.high


def _balanced_ci(detected: int, n_h: int, alarms: int, n_s: int) -> list[float] | None:
    """Interval of (detected + 1 - false alarm) / 2 from the two Wilson intervals (Newcombe's hybrid score interval
    for a difference of independent proportions). A bootstrap collapses to a point when a share is 0 or 1 (all
    12 supported answers flagged: [0.50, 0.50]); this does not."""
    if not n_h or not n_s:
        return None
    d, f = detected / n_h, alarms / n_s
    (d_lo, d_hi), (f_lo, f_hi) = _wilson(detected, n_h), _wilson(alarms, n_s)
    low = d - f - ((d - d_lo) ** 2 + (f_hi - f) ** 2) ** 0.5
    high = d - f + ((d_hi - d) ** 2 + (f - f_lo) ** 2) ** 0.5
    return [round((1 + low) / 2, 4), round((1 + high) / 2, 4)]


def _rounded(ci: tuple[float, float] | None) -> list[float] | None:
    return None if ci is None else [round(ci[0], 4), round(ci[1], 4)]


def card_figures(labels: Sequence[str], verdicts: Sequence[Verdict]) -> dict:
    """n, balanced accuracy, detected, false alarms, abstention accuracy (each with its n and interval), unknown."""
    pairs = list(zip(labels, (v.label for v in verdicts), strict=True))
    known = [(label, said) for label, said in pairs if said != "unknown"]

    def count(label: str, said: str) -> tuple[int, int]:
        group = [s for lab, s in known if lab == label]
        return sum(s == said for s in group), len(group)

    (hits, n_h), (alarms, n_s) = count("hallucinated", "hallucinated"), count("supported", "hallucinated")
    (kept, n_a) = count("abstained", "abstained")

    def share(k: int, n: int) -> float | None:
        return round(k / n, 4) if n else None

    detected, false_alarm = share(hits, n_h), share(alarms, n_s)
    balanced = round((detected + 1 - false_alarm) / 2, 4) if n_h and n_s else None
    return {
        "n": len(pairs), "unknown": len(pairs) - len(known),
        "balanced_accuracy": balanced, "balanced_accuracy_ci": _balanced_ci(hits, n_h, alarms, n_s),
        "detected": detected, "detected_n": n_h, "detected_ci": _rounded(_wilson(hits, n_h)),
        "false_alarm": false_alarm, "false_alarm_n": n_s, "false_alarm_ci": _rounded(_wilson(alarms, n_s)),
        "abstention_accuracy": share(kept, n_a), "abstention_n": n_a, "abstention_ci": _rounded(_wilson(kept, n_a)),
    }


def setting(item) -> str:
    """Which setting a labelled item is in: what its judge is given."""
    return next(name for name, has in SETTINGS.items() if has == (bool(item.gold), bool(item.context.strip())))


def measure(items: list, verdicts: list[Verdict]) -> dict:
    """A set's card entry: figures overall and per setting present."""
    labels = [label for _, label, _ in items]
    out = {"overall": card_figures(labels, verdicts), "settings": {}}
    for name in SETTINGS:
        chosen = [(label, v) for (item, label, _), v in zip(items, verdicts, strict=True) if setting(item) == name]
        if chosen:
            out["settings"][name] = card_figures([lab for lab, _ in chosen], [v for _, v in chosen])
    return out


def _read(path: Path | None) -> dict:
    path = path or CARD_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _source(spec: str) -> str:
    """What a card says it was measured on: a path inside the repository, never a machine path."""
    path, repo = Path(spec), rag_corpus.ROOT.parent
    return path.relative_to(repo).as_posix() if path.is_absolute() and path.is_relative_to(repo) else spec


def record_card(name: str, version: str, card_set: str, entry: dict, limit: int | None = None,
                path: Path | None = None) -> None:
    """Merge one judge's figures on one card set into the card file (a judge's sets must share its version)."""
    path = path or CARD_FILE
    data = _read(path)
    judge = data.get(name, {})
    if judge.get("version") != version:
        judge = {"version": version, "sets": {}}  # figures of an older version would mix with the new ones
    judge["sets"][card_set] = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "source": _source(CARD_SETS[card_set]),
                               "limit": limit, **entry}
    data[name] = judge
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def judge_card(name: str, path: Path | None = None) -> dict:
    """A judge's card: ``{"name", "version", "measured", "split", "figures", "sets"}``.

    ``name`` is a judge's one name (``offline``, ``claims``, ``llm:<catalog id>``; the deprecated ``rules`` and a
    bare catalog id are read as the judge they mean). ``figures`` are the overall figures on the real-answer test
    split and ``measured`` says whether they exist; ``sets`` holds every set and setting measured.
    """
    from toolkit.judges.base import DEPRECATED_NAMES, JUDGES, LLM_PREFIX

    data = _read(path)
    key = DEPRECATED_NAMES.get(name, name)
    if key not in data and key not in JUDGES and not key.startswith(LLM_PREFIX):
        key = LLM_PREFIX + key
    entry = data.get(key, {})
    sets = entry.get("sets", {})
    headline = sets.get(HEADLINE, {}).get("overall")
    return {"name": key, "version": entry.get("version", ""), "measured": headline is not None, "split": HEADLINE,
            "date": sets.get(HEADLINE, {}).get("date", ""), "figures": headline or {}, "sets": sets}


def is_real_answer_card(card: dict) -> bool:
    """Whether a judge card holds figures measured on real answers labelled by people (the only ones MLflow and the
    panels show as a judge's accuracy)."""
    return bool(card.get("measured")) and str(card.get("split", "")).startswith("real_answers")


def card_text(card: dict) -> str:
    """How good a judge is, in words: balanced accuracy [95% CI], false alarms and n on each card set, real answers
    first; "not yet measured on real answers labelled by people" when that figure is missing."""
    def fmt(value, ci=None) -> str:
        return "-" if value is None else f"{value:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")

    lines = [] if is_real_answer_card(card) else ["not yet measured on real answers labelled by people"]
    for card_set in CARD_SETS:
        entry = card.get("sets", {}).get(card_set)
        if entry:
            f = entry["overall"]
            lines.append(f"{card_set}: balanced accuracy {fmt(f['balanced_accuracy'], f['balanced_accuracy_ci'])}, "
                         f"false alarms {fmt(f['false_alarm'], f['false_alarm_ci'])}, n={f['n']}"
                         + (f" (first {entry['limit']} items)" if entry.get("limit") else ""))
    return "; ".join(lines) + (f" ({card['version']})" if card.get("version") else "")


def judges_text(records) -> str:
    """The judges that produced a run's verdicts, by the name a spec uses and the version that judged, with how good
    each is: ``offline (offline-v1): real_answers_test: balanced accuracy 0.86 [0.80, 0.91], ...``."""
    used: dict[str, set[str]] = {}
    for record in records:
        for name, verdict in record.verdicts.items():
            used.setdefault(name, set()).add(verdict.version or verdict.judge)
    return "; ".join(f"{name} ({', '.join(sorted(versions))}): {card_text(judge_card(name))}"
                     for name, versions in used.items())


README_START, README_END = "<!-- judge-card:start -->", "<!-- judge-card:end -->"


def card_markdown(path: Path | None = None) -> str:
    """The README's judge table, rendered from the card file (a test keeps the README equal to it)."""
    data = _read(path)

    def cell(f: dict, key: str) -> str:
        value, ci = f.get(key), f.get(f"{key}_ci")
        return "–" if value is None else f"{value:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")

    rows = ["| judge | set | setting | n | balanced accuracy [95% CI] | detected | false alarms [95% CI] | "
            "abstention | unknown |", "|---|---|---|---|---|---|---|---|---|"]
    for name in sorted(data, key=lambda n: (n != "offline", n)):
        for card_set in CARD_SETS:
            entry = data[name]["sets"].get(card_set)
            if entry is None:
                continue
            shown = card_set + (f" (first {entry['limit']})" if entry.get("limit") else "")
            for label, f in (("all", entry["overall"]), *entry["settings"].items()):
                rows.append(f"| `{name}` ({data[name]['version']}) | {shown} | {label} | {f['n']} | "
                            f"{cell(f, 'balanced_accuracy')} | {cell(f, 'detected')} | {cell(f, 'false_alarm')} | "
                            f"{cell(f, 'abstention_accuracy')} | {f['unknown']} |")
    return "\n".join(rows)


def readme_block(path: Path | None = None) -> str:
    return f"{README_START}\n{card_markdown(path)}\n{README_END}"
