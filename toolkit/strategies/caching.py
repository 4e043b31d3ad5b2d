"""Answer cache for the caching strategy: exact and semantic hits, TTL, and scopes that keep answers apart.

This sits above the providers' response cache (which replays identical prompts): it answers a *question* that was
already answered, or one close enough by MiniLM cosine similarity. A semantic hit can be wrong (a similar question
with a different answer), so each hit records the question it came from and the report counts wrong answers served.
Entries are scoped by dataset and provider and never cross those lines unless the settings say so.
"""

import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from toolkit.records import Answer, Question, Step, Usage
from toolkit.strategies.spec import Caching

Embed = Callable[[list[str]], Sequence[Sequence[float]]]


def casefold_words(text: str) -> str:
    """Case-folded words without "?": the cache key of a question (not the scorers' ``extraction.text.normalize``)."""
    return " ".join(text.casefold().replace("?", " ").split())


def default_embed(texts: list[str]) -> Sequence[Sequence[float]]:
    """The packaged all-MiniLM-L6-v2 (offline), loaded on first use."""
    from toolkit.retrieval.embeddings import embed

    return embed(texts)


class AnswerCache:
    """A small SQLite table of answered questions; ``clock`` is injectable so TTL tests never sleep."""

    def __init__(self, settings: Caching, path: str | Path | None = None, embed: Embed | None = None,
                 clock: Callable[[], float] = time.time):
        from toolkit.paths import subdir

        self.settings = settings
        self.path = Path(path or settings.path or subdir("strategy_cache") / "answers.sqlite")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.embed = embed or default_embed
        self.clock = clock
        self.db = sqlite3.connect(self.path, check_same_thread=False)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS answers (dataset TEXT, provider TEXT, method TEXT, question_id TEXT, "
            "question TEXT, norm TEXT, answer TEXT, embedding BLOB, created REAL)"
        )
        self.db.commit()

    def _scope(self, question: Question, provider: str, method: str) -> tuple[str, list]:
        where, args = ["method = ?", "created >= ?"], [method, self._oldest()]
        if not self.settings.across_datasets:
            where.append("dataset = ?")
            args.append(question.dataset)
        if not self.settings.across_providers:
            where.append("provider = ?")
            args.append(provider)
        return " AND ".join(where), args

    def _oldest(self) -> float:
        return self.clock() - self.settings.ttl_s if self.settings.ttl_s else float("-inf")

    def lookup(self, question: Question, provider: str, method: str) -> Answer | None:
        """A stored answer for ``question`` (flagged ``cache_exact`` or ``cache_semantic``), or None."""
        where, args = self._scope(question, provider, method)
        if self.settings.exact:
            row = self.db.execute(
                f"SELECT question_id, question, answer FROM answers WHERE {where} AND norm = ? ORDER BY created DESC",
                [*args, casefold_words(question.question)],
            ).fetchone()
            if row:
                return self._hit(row, "exact", 1.0)
        if self.settings.semantic:
            rows = self.db.execute(f"SELECT question_id, question, answer, embedding FROM answers WHERE {where} "
                                   "AND embedding IS NOT NULL", args).fetchall()
            if rows:
                query = _unit(np.asarray(self.embed([question.question])[0], dtype=np.float32))
                matrix = np.stack([np.frombuffer(r[3], dtype=np.float32) for r in rows])
                sims = matrix @ query
                best = int(np.argmax(sims))
                if sims[best] >= self.settings.threshold:
                    return self._hit(rows[best][:3], "semantic", float(sims[best]))
        return None

    def _hit(self, row, kind: str, similarity: float) -> Answer:
        source_id, source_question, stored = row
        answer = Answer.model_validate_json(stored)
        return answer.model_copy(update={
            "steps": (Step(name="cache", prompt=source_question, output=answer.text, usage=Usage(cached_calls=1)),),
            "flags": (*answer.flags, f"cache_{kind}"),
            "details": {**answer.details, "cache": {"kind": kind, "source_question_id": source_id,
                                                    "source_question": source_question, "similarity": similarity}},
        })

    def store(self, question: Question, provider: str, method: str, answer: Answer) -> None:
        vector = _unit(np.asarray(self.embed([question.question])[0], dtype=np.float32)) if self.settings.semantic else None
        self.db.execute(
            "INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (question.dataset, provider, method, question.id, question.question, casefold_words(question.question),
             json.dumps(answer.model_dump(mode="json")), None if vector is None else vector.tobytes(), self.clock()),
        )
        self.db.commit()

    def close(self) -> None:
        self.db.close()


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector
