"""The reference evidence a judge gets beside the gold answers and the shown chunks: the question's source document.

People label an answer against the whole source document (the Factbook country page), so a true remark the shown
chunks do not hold ("France is in Western Europe") is ``supported``. A judge that sees only the gold answers and the
chunks flags it. :func:`reference` is the one place that builds this evidence, for experiment answers
(``judge_input``) and for labelled items (``load_labelled``) alike:

- the question's own gold context when it ships one (SQuAD-style datasets);
- else, for Factbook questions, the documents of its ``doc_ids`` (``rag_corpus/docs/<id>.md``);
- else nothing (``""``): the judge's reference cues are then marked missing.
"""

from functools import lru_cache

import rag_corpus

DOCS = rag_corpus.ROOT / "docs"
FACTBOOK = "factbook"


@lru_cache(maxsize=64)
def document(doc_id: str) -> str:
    """The text of one Factbook document, ``""`` when there is none of that id."""
    path = DOCS / f"{doc_id}.md"
    return path.read_text(encoding="utf-8") if doc_id and "/" not in doc_id and path.is_file() else ""


def reference(doc_ids: tuple[str, ...] | list[str] = (), dataset: str = FACTBOOK, context: str | None = None) -> str:
    """The question's source evidence (see the module docstring)."""
    if context and context.strip():
        return context
    if dataset != FACTBOOK:
        return ""
    return "\n\n".join(text for text in (document(d) for d in dict.fromkeys(doc_ids)) if text)
