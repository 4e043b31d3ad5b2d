"""No answering method can read a question's gold side (answers, tolerance, gold documents, gold context).

By construction (methods receive ``Question.public()``), by inspection of the source under toolkit/methods, and
end to end (gold never reaches a prompt). The old CoVe passed ``question.answers`` to its list parser: the source
check below fails on that code.
"""

import ast
from pathlib import Path

import pytest
from scripted import ScriptedChatModel

import toolkit.methods
from toolkit.methods import METHODS, get_method
from toolkit.records import Answer, PublicQuestion, Question

GOLD_FIELDS = {"answers", "tolerance", "doc_ids", "context"}
METHODS_DIR = Path(toolkit.methods.__file__).parent
SECRET = Question(
    id="s", question="Which countries border Testland?", kind="list", answers=("Secretland", "Hiddenia"),
    tolerance=0.5, doc_ids=("secret-doc",), context="Secret context: Testland borders Secretland.",
)


def gold_reads(source: str) -> list[str]:
    """Attribute reads of a gold field (``x.answers``) and uses of the full ``Question`` type in a module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in GOLD_FIELDS:
            found.append(f"line {node.lineno}: .{node.attr}")
        if isinstance(node, ast.keyword) and node.arg == "keep":
            found.append(f"line {node.lineno}: keep=")
    return found


@pytest.mark.parametrize("path", sorted(METHODS_DIR.rglob("*.py")), ids=lambda p: p.name)
def test_no_method_source_reads_a_gold_field(path):
    assert gold_reads(path.read_text(encoding="utf-8")) == []


def test_the_source_check_catches_the_old_gold_leak():
    old_cove = "items = parse_list(baseline, keep=self.question.answers)"
    assert sorted(gold_reads(old_cove)) == ["line 1: .answers", "line 1: keep="]


def test_a_public_question_has_no_gold_side():
    public = SECRET.public()
    assert isinstance(public, PublicQuestion) and not (GOLD_FIELDS & set(PublicQuestion.model_fields))
    assert (public.id, public.question, public.kind) == (SECRET.id, SECRET.question, SECRET.kind)


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_receives_only_the_public_question(name, monkeypatch):
    method, seen = METHODS.get(name), []

    def spy(self, question, llm, retriever=None):
        seen.append(question)
        return Answer(text="", method=self.name)

    monkeypatch.setattr(type(method), "answer", spy)
    method(SECRET, ScriptedChatModel())
    assert len(seen) == 1 and type(seen[0]) is PublicQuestion


@pytest.mark.parametrize("name", [n for n in METHODS.names() if not METHODS.get(n).needs_retriever])
def test_gold_never_reaches_a_prompt(name):
    llm = ScriptedChatModel(default="Alpha, Beta")
    get_method(name)(SECRET, llm)
    assert llm.prompts and not any(s in p for p in llm.prompts for s in ("Secretland", "Hiddenia", "secret-doc", "Secret"))
