"""Build the judge's labelled meta-evaluation set from the Factbook corpus: ``dev.jsonl`` and ``test.jsonl``.

Run ``python rag_corpus/judge/build.py``. Deterministic (seeded): a rebuild is byte-identical, which a test checks.
Each line is ``{"question", "answer", "label", "gold"?, "context"?, "kind"?}`` (the input of ``tierlab judge
eval``). Questions come from ``rag_corpus/questions/{dev,test}.jsonl`` (disjoint countries), contexts are the
Factbook fields that state the gold answer (plus one unrelated field), and answers are made from templates:

- supported: gold answers and aliases in many surface forms, numbers rounded or rescaled within tolerance, subsets
  of a gold list;
- hallucinated: numbers scaled by a factor, another country's value swapped in, the gold answer negated, an
  unsupported claim added to a correct answer, a wrong member added to a list, a confident answer to a question
  the context cannot answer;
- abstained: refusals in many phrasings.

Each item is judged from its gold answers only, its context only, or both. The test split uses partly different
templates and perturbation factors (``templates.py``) so tuning on dev gives an honest estimate on test.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import templates as TPL  # noqa: E402

CORPUS = HERE.parent
SEED = 20261201
HEADINGS = {  # question id prefix -> the Factbook field(s) that state the answer
    "capital": ("Capital",), "currency": ("Exchange rates",), "highest": ("Elevation",),
    "longname": ("Country name",), "area": ("Area",), "population": ("Population",),
    "borders": ("Land boundaries",), "compare-area": ("Area",), "compare-population": ("Population",),
    "capital-currency": ("Capital", "Exchange rates"),
}
DISTRACTORS = ("Climate", "Terrain", "Natural resources", "Religions", "Government type", "Ethnic groups")


def blocks(doc: str) -> tuple[str, dict[str, str]]:
    """(title, heading -> block text) of one corpus document; the first block of a heading wins."""
    title = doc.splitlines()[0].lstrip("# ").strip()
    out: dict[str, str] = {}
    for part in re.split(r"\n(?=### )", doc):
        if part.startswith("### "):
            heading, _, body = part.partition("\n")
            lines = [line[:300] for line in body.strip().splitlines() if line.strip()][:6]
            out.setdefault(heading[4:].strip(), "\n".join(lines))
    return title, out


def subject(question: str) -> str:
    match = re.match(r"^What (?:is|are) (the .+?)(?: in square kilometres)?\?$", question)
    if match:
        return match.group(1)
    return "the larger one" if question.startswith("Which") and " or " in question else "the answer"


def prefix(qid: str) -> str:
    return re.sub(r"-[a-z]{2}(?:-[a-z]{2})?$", "", qid) if not qid.startswith("unanswerable") else "unanswerable"


def context_for(q: dict, docs: dict, rng: random.Random) -> str:
    parts = []
    for cc in q["doc_ids"][:2] or [q["id"].rsplit("-", 1)[1]]:
        title, fields = docs[cc]
        wanted = HEADINGS.get(prefix(q["id"]), ())
        chosen = [h for h in wanted if h in fields]
        others = [h for h in DISTRACTORS if h in fields and h not in chosen]
        for distractor in rng.sample(others, min(len(others), 1 if chosen else 2)):
            chosen.insert(rng.randrange(len(chosen) + 1), distractor)
        parts.append(f"# {title}\n\n" + "\n\n".join(f"### {h}\n\n{fields[h]}" for h in chosen))
    return "\n\n".join(parts)


def number_form(x: float, unit: str, forms: tuple[str, ...], rng: random.Random) -> str:
    usable = [f for f in forms if ("million" not in f or x >= 1e6) and ("thousand" not in f or x >= 1e4)]
    digits = max(0, 3 - len(str(int(x))))
    r = round(x, -(len(str(int(x))) - 3)) if x >= 1000 else round(x, digits)
    return rng.choice(usable).format(x=x, r=r, m=x / 1e6, k=x / 1e3, u=unit)


def fill(template: str, q: dict, **values) -> str:
    s = subject(q["question"])
    return template.format(s=s, S=s[0].upper() + s[1:], **values).strip()


def gold_number(q: dict) -> float:
    return float(re.match(r"[\d,.]+", q["answers"][0]).group(0).replace(",", ""))


def unit_of(q: dict, split: str, rng: random.Random) -> str:
    if prefix(q["id"]) == "area":
        return rng.choice(TPL.AREA_UNITS[split])
    return rng.choice(("", " people", " inhabitants"))


def supported(q: dict, split: str, rng: random.Random) -> str:
    if q["kind"] == "numeric":
        return number_form(gold_number(q), unit_of(q, split, rng), TPL.NUMBER_FORMS[split], rng)
    if q["kind"] == "list":
        items = rng.sample(q["answers"], rng.randint(max(1, len(q["answers"]) - 2), len(q["answers"])))
        return list_answer(items, split, rng)
    return fill(rng.choice(TPL.SUPPORTED[split]), q, a=rng.choice(q["answers"]))


def list_answer(items: list[str], split: str, rng: random.Random) -> str:
    joined = ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + items[-1]
    return rng.choice(TPL.LIST_SUPPORTED[split]).format(
        items=joined, bullets="\n".join(f"- {x}" for x in items),
        numbered="\n".join(f"{i}. {x}" for i, x in enumerate(items, 1)),
    )


def hallucinated(q: dict, split: str, rng: random.Random, pools: dict) -> tuple[str, str]:
    """(answer, perturbation name)."""
    kind = q["kind"]
    if kind == "unanswerable":
        return fill(rng.choice(TPL.UNANSWERABLE_GUESSES[split]), q, g=rng.choice(TPL.GUESSES)), "unanswerable"
    if kind == "list":
        wrong = rng.choice([c for c in pools["countries"] if c not in q["answers"]])
        items = rng.sample(q["answers"], max(1, len(q["answers"]) - (1 if split == "test" and rng.random() < .5 else 0)))
        items.insert(rng.randrange(len(items) + 1), wrong)
        return list_answer(items, split, rng), "wrong_member"
    how = rng.choice(("number", "number", "added") if kind == "numeric" else ("swap", "swap", "negate", "added"))
    if how == "number":
        unit = unit_of(q, split, rng)
        if split == "test" and unit.strip() and rng.random() < 0.25:
            return f"{gold_number(q):,.0f} sq mi", "unit"
        x = gold_number(q) * rng.choice(TPL.NUMBER_FACTORS[split])
        return number_form(x, unit, TPL.NUMBER_FORMS[split], rng), "number"
    if how == "negate":
        return fill(rng.choice(TPL.NEGATED[split]), q, a=rng.choice(q["answers"])), "negate"
    if how == "added":
        ok = supported(q, split, rng).rstrip(".\n") + "."
        return fill(rng.choice(TPL.ADDED[split]), q, ok=ok, n=rng.randint(2, 90), y=rng.randint(1700, 1990)), "added"
    pool = pools.get(prefix(q["id"])) or pools["countries"]
    if prefix(q["id"]).startswith("compare"):
        pool = [t for t in re.findall(r", (.+) or (.+)\?$", q["question"])[0] if t not in q["answers"]]
    wrong = rng.choice([w for w in pool if w not in q["answers"] and q["answers"][0] not in w])
    return fill(rng.choice(TPL.SWAPPED[split]), q, w=wrong), "swap"


def make_items(questions: list[dict], split: str, docs: dict, pools: dict) -> list[dict]:
    rng = random.Random(f"{SEED}-{split}")
    out = []
    if split == "test":  # about 800 items: every kind, a seeded sample of the rest
        questions = [q for q in questions if q["kind"] in ("list", "unanswerable") or rng.random() < 0.4]
    for q in questions:
        if q["kind"] == "unanswerable":
            modes = ["context"]
        elif q["id"].startswith("language"):
            modes = ["gold"]
        else:
            modes = ["gold", "context", "both"]
        per_question = 2 if split == "dev" else 1
        made = []
        for _ in range(per_question):
            if q["kind"] != "unanswerable":
                made.append(("supported", supported(q, split, rng), "correct"))
            made.append(("hallucinated", *hallucinated(q, split, rng, pools)))
            if rng.random() < (0.55 if q["kind"] == "unanswerable" else 0.3):
                made.append(("abstained", rng.choice(TPL.ABSTAIN[split]), "abstain"))
        for label, answer, how in made:
            mode = rng.choice(modes)
            item = {"question": q["question"], "answer": answer, "label": label}
            if mode in ("gold", "both"):
                item["gold"] = q["answers"]
            if mode in ("context", "both"):
                item["context"] = context_for(q, docs, rng)
            if rng.random() >= 0.15:
                item["kind"] = q["kind"]
            item["source"] = f"{q['id']}/{how}/{mode}"
            out.append(item)
    return out


def pools_of(questions: list[dict], docs: dict) -> dict:
    pools: dict[str, list[str]] = {}
    for q in questions:
        if q["kind"] == "short":
            pools.setdefault(prefix(q["id"]), []).append(q["answers"][0])
        if q["id"].startswith("capital-currency"):
            pools.setdefault("capital-currency", []).append(q["answers"][0])
    pools["countries"] = sorted({title for title, _ in docs.values()})
    return {k: sorted(set(v)) for k, v in pools.items()}


def outputs() -> dict[str, str]:
    docs = {p.stem: blocks(p.read_text(encoding="utf-8")) for p in sorted((CORPUS / "docs").glob("*.md"))}
    splits = {s: [json.loads(x) for x in (CORPUS / "questions" / f"{s}.jsonl").read_text().splitlines()]
              for s in ("dev", "test")}
    pools = pools_of(splits["dev"] + splits["test"], docs)
    return {
        f"{s}.jsonl": "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in make_items(qs, s, docs, pools))
        for s, qs in splits.items()
    }


def build(out_dir: Path = HERE) -> dict[str, str]:
    files = outputs()
    for name, text in files.items():
        (out_dir / name).write_bytes(text.encode("utf-8"))
    return files


if __name__ == "__main__":
    for name, text in build(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE).items():
        print(f"{name}: {text.count(chr(10))} items")
