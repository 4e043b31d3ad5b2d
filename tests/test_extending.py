"""The README's "Extending TierLab" examples, registered and run: a dataset format, a method, a metric and a judge,
each one definition plus one registration line, then one experiment that uses all four through the real runner;
and a provider dialect, read back from the headers and 429 it renders.

The registries are the package's own (``LOADERS``, ``METHODS``, ``METRICS``, ``JUDGES``, ``DIALECTS``); the test
restores them.
"""

import json
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage
from scripted import ScriptedChatModel

from toolkit.datasets import LOADERS, Dataset, DatasetFormat, load_dataset
from toolkit.experiments.components import Components
from toolkit.experiments.results import question_row
from toolkit.experiments.runner import run_experiment
from toolkit.experiments.spec import ExperimentSpec
from toolkit.judges.base import JUDGES, JudgeInput, Verdict
from toolkit.methods import METHODS, get_method
from toolkit.methods.base import Method
from toolkit.metrics import METRICS
from toolkit.providers import dialects
from toolkit.providers.catalog import CatalogProvider
from toolkit.records import Answer, Question


# --- README: a dataset format (one loader + the files it reads; LOADERS.register) -----------------------------
def load_capitals(path: str, split: str) -> Dataset:
    rows = json.loads(open(path, encoding="utf-8").read())
    questions = tuple(
        Question(id=c, question=f"What is the capital of {c}?", kind="short", answers=(a,), dataset="capitals")
        for c, a in rows.items()
    )
    return Dataset(name=f"capitals:{path}", split=split, questions=questions, documents={})


CAPITALS = DatasetFormat(load=load_capitals, files=lambda path, split: [Path(path)])


# --- README: a method (a Method subclass + METHODS.register) --------------------------------------------------
class Terse(Method):
    name: str = "terse"

    def answer(self, question, llm, retriever=None) -> Answer:
        text = llm.invoke([HumanMessage(f"{question.question} One word.")]).content.strip()
        return Answer(text=text, method=self.name)


# --- README: a metric (a callable question, answer -> float | None + METRICS.register) ------------------------
def one_word(question: Question, answer: Answer) -> float | None:
    return float(len(answer.text.split()) == 1)


# --- README: a judge (a callable JudgeInput -> Verdict + JUDGES.register) ------------------------------------
def gold_or_abstain(item: JudgeInput) -> Verdict:
    said = item.answer.casefold()
    abstained = "don't know" in said
    hallucinated = not abstained and not any(g.casefold() in said for g in item.gold)
    return Verdict(judge="gold_or_abstain", hallucinated=hallucinated, abstained=abstained)


# --- README: a provider dialect (a Dialect subclass + DIALECTS.register) ---------------------------------------
class Quota(dialects.Dialect):
    """A provider that reports its remaining requests per minute as ``x-quota-left``."""

    def read(self, get, status, message, error, signal):
        return {"requests_remaining": dialects._int(get("x-quota-left"))}

    def headers(self, windows):
        return {"x-quota-left": str(windows["rpm"].remaining)} if "rpm" in windows else {}


def test_a_new_dialect_is_accepted_by_the_catalog_and_read_back(monkeypatch):
    import httpx

    monkeypatch.setattr(dialects.DIALECTS, "_entries", dict(dialects.DIALECTS._entries))
    entry = {"name": "Q", "kind": "free", "base_url": "http://127.0.0.1:9/v1", "models": {}}
    with pytest.raises(ValueError, match="unknown dialect 'quota'"):
        CatalogProvider.model_validate({**entry, "dialect": "quota"})
    dialects.DIALECTS.register("quota", Quota())
    assert CatalogProvider.model_validate({**entry, "dialect": "quota"}).dialect == "quota"
    headers = dialects.render_headers("quota", {"rpm": dialects.Window(30, 7, 12.0)})
    assert dialects.parse("quota", 200, httpx.Headers(headers)).requests_remaining == 7
    rendered, _ = dialects.render_429("quota", "m", "rpm", dialects.Window(30, 0, 12.0), 12.0)
    assert dialects.parse("quota", 429, httpx.Headers(rendered)).retry_after_s == 12


@pytest.fixture
def registered(monkeypatch):
    """Each extension registered exactly as the README shows; the registries are restored afterwards."""
    for registry in (LOADERS, METHODS, JUDGES):
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    monkeypatch.setattr(METRICS, "_entries", dict(METRICS._entries))
    monkeypatch.setattr(METRICS, "_info", dict(METRICS._info))
    LOADERS.register("capitals", CAPITALS)
    METHODS.register("terse", Terse())
    METRICS.register("one_word", one_word, binary=True, higher_is_better=True)
    JUDGES.register("gold_or_abstain", gold_or_abstain)


class ScriptedModel(Components):
    """Only the chat model is a stand-in (no server); dataset, method, metric and judge are the registered ones."""

    def chat_model(self, provider, base_url):
        return ScriptedChatModel(rules=[(r"capital of France", "Paris"), (r"capital of Peru", "It is Lima.")],
                                 default="I don't know")


def test_each_extension_is_found_by_name(registered, tmp_path):
    data = tmp_path / "capitals.json"
    data.write_text(json.dumps({"France": "Paris"}), encoding="utf-8")
    assert load_dataset(f"capitals:{data}").questions[0].answers == ("Paris",)
    assert get_method("terse").name == "terse"
    assert METRICS.info("one_word").binary
    assert JUDGES.get("gold_or_abstain") is gold_or_abstain


def test_a_run_uses_the_new_format_method_metric_and_judge(registered, tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "home"))
    data = tmp_path / "capitals.json"
    data.write_text(json.dumps({"France": "Paris", "Peru": "Lima", "Chad": "N'Djamena"}), encoding="utf-8")
    spec = ExperimentSpec(name="extending", dataset=f"capitals:{data}", sample_size=None,
                          providers=["local/smollm2-135m-instruct"], methods=["terse"],
                          metrics=["accuracy", "one_word"], judges=["gold_or_abstain"], bootstrap_resamples=200)
    result = run_experiment(spec, progress=False, components=ScriptedModel())
    assert not result.errors, result.errors
    records = {r.question.id: r for r in result.records}
    rows = {qid: question_row(r, spec.metrics) for qid, r in records.items()}
    assert (rows["France"]["one_word"], rows["Peru"]["one_word"]) == (1.0, 0.0)  # "Paris" vs "It is Lima."
    assert result.arms[0].metrics["one_word"].value == pytest.approx(1 / 3)  # "I don't know" (Chad) is three words
    assert {qid: r.verdicts["gold_or_abstain"].label for qid, r in records.items()} == {
        "France": "supported", "Peru": "supported", "Chad": "abstained"}
