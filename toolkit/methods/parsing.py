"""Tolerant parsers for what CoVe's steps return: verification questions, Q/A pairs, numbered answers, verdicts.

Small models number, bullet, wrap in JSON, or trail off into chatter; large models add lead-ins ("Here are…").
Every parser here returns a best effort and an empty result on junk, never an exception, so a method can flag
the problem and fall back instead of crashing an experiment. What a *reply* claims (abstention, the answer, list
items, numbers) is not parsed here but by ``toolkit.extraction``, which methods and metrics share.
"""

import re

from toolkit.extraction.lists import json_array

_MARKER = re.compile(r"^\s*(?:[-*•·#]+|\(?\d{1,3}[.):]|\(?[a-z][.)](?=\s)|q\d*[.:)]|question\s*\d*[.:)])\s*", re.IGNORECASE)
_ANSWER_LEAD = re.compile(r"^\s*(?:final\s+)?(?:answer|response|a)\s*\d*\s*[:.)-]\s*", re.IGNORECASE)


def parse_questions(text: str, limit: int | None = None) -> list[str]:
    """Verification questions from a plan: numbered, bulleted, one per line, JSON array, with trailing junk.

    Only pieces that end in a question mark count (that is what makes chatter distinguishable from questions);
    several questions on one line are split. Duplicates are dropped; at most ``limit`` are returned.
    """
    text = (text or "").strip()
    array = json_array(text)
    if array is not None and all(isinstance(x, str) for x in array):
        candidates = array
    else:
        candidates = [piece for line in text.splitlines() for piece in re.findall(r"[^?]*\?", line)]
    questions, seen = [], set()
    for candidate in candidates:
        question = _MARKER.sub("", candidate.strip()).strip(" \t\"'`*")
        question = re.sub(r"^(?:verification\s+questions?|questions?)\s*:\s*", "", question, flags=re.IGNORECASE)
        if len(question) < 4 or not question.endswith("?") or question.casefold() in seen:
            continue
        seen.add(question.casefold())
        questions.append(question)
    return questions[:limit] if limit else questions


def parse_qa_pairs(text: str) -> list[tuple[str, str]]:
    """(question, answer) pairs from a joint plan-and-answer output.

    Accepts "Q: … / A: …" (optionally numbered, "Q1:", "Question 1:") and "question? answer" on one line.
    A question without an answer gets ``""``.
    """
    pairs: list[tuple[str, str]] = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        q = re.match(r"^(?:[-*•]\s*)?(?:\d+[.)]\s*)?(?:q|question)\s*\d*\s*[:.)-]\s*(.+)$", line, re.IGNORECASE)
        a = re.match(r"^(?:[-*•]\s*)?(?:\d+[.)]\s*)?(?:a|answer)\s*\d*\s*[:.)-]\s*(.*)$", line, re.IGNORECASE)
        if q and "?" in q.group(1):
            question, _, rest = q.group(1).partition("?")
            pairs.append((question.strip() + "?", rest.strip()))
        elif a and pairs and not pairs[-1][1]:
            pairs[-1] = (pairs[-1][0], a.group(1).strip())
        elif "?" in line and not a:
            question, _, rest = _MARKER.sub("", line).partition("?")
            if len(question.strip()) >= 3:
                pairs.append((question.strip() + "?", rest.strip(" -:")))
        elif pairs and not pairs[-1][1]:
            pairs[-1] = (pairs[-1][0], line)
    return pairs


def parse_numbered_answers(text: str, count: int) -> list[str]:
    """``count`` answers from "1. …\\n2. …" (or plain lines, in order); missing answers are ``""``."""
    numbered: dict[int, str] = {}
    plain: list[str] = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        match = re.match(r"^(?:a|answer)?\s*(\d{1,3})\s*[.):-]\s*(.*)$", line, re.IGNORECASE)
        if match and 1 <= int(match.group(1)) <= count:
            numbered.setdefault(int(match.group(1)), _ANSWER_LEAD.sub("", match.group(2)).strip())
        else:
            plain.append(_ANSWER_LEAD.sub("", line).strip())
    if numbered:
        return [numbered.get(i, "") for i in range(1, count + 1)]
    return (plain + [""] * count)[:count]


def parse_verdict(text: str) -> str:
    """``"inconsistent"``, ``"consistent"`` or ``"unknown"`` from a cross-check output.

    The explicit words the prompt asks for win; otherwise "does not match"/"contradicts" or a leading yes/no.
    """
    lowered = (text or "").casefold()
    if re.search(r"\b(?:inconsistent|not consistent)\b", lowered):
        return "inconsistent"
    if re.search(r"\bconsistent\b", lowered):
        return "consistent"
    if re.search(r"\b(?:contradicts?|contradiction|(?:does|do) not (?:match|agree|support)|mismatch)\b", lowered):
        return "inconsistent"
    return answer_verdict(text)


def answer_verdict(text: str) -> str:
    """Verdict of a yes/no verification answer: "No…" → ``"inconsistent"``, "Yes…" → ``"consistent"``."""
    lowered = (text or "").strip().casefold()
    if re.match(r"^(?:no|not|none|false|incorrect)\b", lowered):
        return "inconsistent"
    if re.match(r"^(?:yes|true|correct)\b", lowered):
        return "consistent"
    return "unknown"


_ECHO = re.compile(r"^\s*(?:q\d*|a\d*|check|question|draft answer|verification(?: question| answer)?)\s*:", re.IGNORECASE)


def cut_echo(text: str) -> str:
    """The answer before the model starts echoing the prompt's scaffolding ("Q: …", "Check: …")."""
    kept = []
    for line in (text or "").splitlines():
        if _ECHO.match(line):
            break
        kept.append(line)
    return "\n".join(kept).strip()


def mentions(entity: str, text: str) -> bool:
    """Whether ``text`` names ``entity`` as whole words (so "Niger" is not found in "Nigeria")."""
    words = entity.strip()
    if not words:
        return False
    return re.search(rf"(?<!\w){re.escape(words)}(?!\w)", text or "", re.IGNORECASE) is not None
