"""Structure-aware chunking of markdown documents.

Documents are split at ``##`` sections first (a chunk never mixes Geography with Economy), then packed by
paragraph up to ``chunk_size`` characters with a small word-boundary overlap. Each chunk starts with
``<title> — <section>`` because a bare "Capital: Paris" chunk does not say which country it is about, and the
embedding needs that to match "What is the capital of France?".
"""

import re

from pydantic import BaseModel, ConfigDict


class Chunk(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    doc_id: str
    section: str
    index: int
    text: str


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "body"


def sections(text: str) -> tuple[str, list[tuple[str, str]]]:
    """(title, [(section heading, body)]) of a markdown document; text before the first ``##`` is 'Overview'."""
    title_match = re.search(r"^# (.+)$", text, re.M)
    title = title_match.group(1).strip() if title_match else ""
    body = text[title_match.end() :] if title_match else text
    parts = re.split(r"^## (.+)$", body, flags=re.M)
    out = [("Overview", parts[0].strip())] if parts[0].strip() else []
    out += [(parts[i].strip(), parts[i + 1].strip()) for i in range(1, len(parts) - 1, 2)]
    return title, [(name, content) for name, content in out if content]


def windows(paragraph: str, size: int, overlap: int) -> list[str]:
    """Split one over-long paragraph at word boundaries into pieces of <= size characters."""
    words, pieces, current = paragraph.split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > size:
            pieces.append(current)
            current = tail(current, overlap)
        current = f"{current} {word}".strip()
    return pieces + ([current] if current else [])


def tail(text: str, overlap: int) -> str:
    """The last ``overlap`` characters of text, starting at a word boundary."""
    if overlap <= 0 or len(text) <= overlap:
        return "" if overlap <= 0 else text
    cut = text[-overlap:]
    return cut[cut.find(" ") + 1 :] if " " in cut else cut


def attach_headings(paragraphs: list[str]) -> list[str]:
    """Glue a lone ``### Field`` heading to the paragraph after it, so no chunk is just a heading and a value
    never loses the field name that says what it is."""
    out: list[str] = []
    for paragraph in paragraphs:
        if out and out[-1].startswith("#") and "\n" not in out[-1]:
            out[-1] = f"{out[-1]}\n{paragraph}"
        else:
            out.append(paragraph)
    return out


def chunk_document(doc_id: str, text: str, chunk_size: int = 800, chunk_overlap: int = 100) -> list[Chunk]:
    if chunk_size < 100 or not 0 <= chunk_overlap < chunk_size // 2:
        raise ValueError(
            f"chunk_size={chunk_size}, chunk_overlap={chunk_overlap}: need chunk_size >= 100 and"
            " 0 <= chunk_overlap < chunk_size / 2."
        )
    title, parts = sections(text)
    chunks = []
    for section, body in parts:
        header = f"{title} — {section}\n" if title else f"{section}\n"
        budget = chunk_size - len(header)
        paragraphs = attach_headings([p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()])
        pieces: list[str] = []
        current = ""
        for paragraph in paragraphs:
            split = windows(paragraph, budget, chunk_overlap) if len(paragraph) > budget else [paragraph]
            for n, piece in enumerate(split):
                if current and len(current) + 2 + len(piece) > budget:
                    pieces.append(current)
                    # windows of one long paragraph already overlap each other; carry only across paragraphs
                    carried = tail(current, chunk_overlap) if n == 0 else ""
                    current = (
                        f"{carried}\n{piece}"
                        if carried and len(carried) + 1 + len(piece) <= budget
                        else piece
                    )
                else:
                    current = f"{current}\n\n{piece}" if current else piece
        if current:
            pieces.append(current)
        chunks += [
            Chunk(
                id=f"{doc_id}::{slug(section)}::{i}",
                doc_id=doc_id,
                section=section,
                index=i,
                text=header + piece,
            )
            for i, piece in enumerate(pieces)
        ]
    return chunks
