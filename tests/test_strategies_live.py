"""Strategies on the real local stack: the local model over HTTP (vLLM on Ray Serve), the packaged MiniLM for
the semantic cache, real chromadb for trimming, a real MLflow store. Tiny samples; loose checks on model text,
strict checks on structure and accounting."""

import pytest

from toolkit.experiments.components import Components
from toolkit.strategy_runs import StrategyExperiment, run_strategies

pytestmark = pytest.mark.slow
IDS = ("capital-fr", "capital-ja", "currency-fr")
DOCS = ("fr", "ja")


class Small(Components):
    """The real components, restricted to three Factbook questions plus a paraphrase (a semantic-cache hit)."""

    def __init__(self, retriever=None):
        self._retriever = retriever

    def questions(self, spec):
        from toolkit.datasets import load_dataset

        by_id = {q.id: q for q in load_dataset("factbook", "dev").questions}
        chosen = [by_id[i] for i in IDS]
        paraphrase = chosen[0].model_copy(update={"id": "capital-fr-paraphrase",
                                                  "question": "What's the capital city of France?"})
        return (*chosen, paraphrase)

    def retriever(self, spec):
        return self._retriever


def spec(url: str, method: str, arms: dict, name: str) -> StrategyExperiment:
    params = {"temperature": 0, "max_tokens": 16}
    return StrategyExperiment.model_validate({
        "experiment": {"name": name, "dataset": "factbook",
                       "providers": [{"id": "local/smollm2-135m-instruct", "base_url": url, "params": params}],
                       "methods": [method], "bootstrap_resamples": 200},
        "arms": arms,
        "strong": {"id": "local/smollm2-135m-instruct", "base_url": url, "label": "strong",
                   "params": {"temperature": 0, "max_tokens": 24}},
    })


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    return tmp_path


def test_closed_book_strategies_on_the_local_model(local_llm_url, home):
    uri = f"sqlite:///{home / 'mlflow.db'}"
    exp = spec(local_llm_url, "closed_book", {
        "batch4": {"batching": {"k": 4}},
        "semantic_cache": {"caching": {"exact": True, "semantic": True, "threshold": 0.8}},
        "cascade": {"cascade": {"strong": "local/smollm2-135m-instruct", "signals": ["abstention"]}},
        "review": {"review": {"threshold": 0.99}},
    }, "strategies-live")
    res = run_strategies(exp, components=Small(), tracking_uri=uri, runs_root=home / "runs",
                         review_root=home / "review")
    c = res.counters
    assert all(c[arm]["questions"] == 4 for arm in c)
    assert c["baseline"]["calls"] == 4
    # Batching: every question answered, either from the batch or retried singly, and both are counted.
    assert c["batch4"]["batched"] + c["batch4"]["batch_retries"] == 4
    assert c["batch4"]["calls"] == 1 + c["batch4"]["batch_retries"]
    # The paraphrase is served from the semantic cache (MiniLM similarity ~0.9): one call saved.
    assert c["semantic_cache"]["cache_hits_semantic"] == 1 and c["semantic_cache"]["calls"] == 3
    assert c["semantic_cache"]["calls_saved"] == pytest.approx(0.25)
    # Cascade: escalations cost a second call each.
    assert c["cascade"]["calls"] == 4 + c["cascade"]["escalated"]
    # Review at a 0.99 threshold queues what the signals doubt (abstentions); its cost is reported.
    assert "review.items_per_100" in c["review"]
    assert set(res.table()["arm"]) == {"baseline", "batch4", "semantic_cache", "cascade", "review"}
    assert len(res.arm_runs) == 5


def test_trimming_saves_prompt_tokens_with_real_retrieval(local_llm_url, home):
    from toolkit.datasets import load_dataset
    from toolkit.retrieval import RetrieverSettings, get_retriever, ingest

    dataset = load_dataset("factbook", "dev")
    settings = RetrieverSettings(persist_dir=str(home / "chroma"), k=3, sections=("Geography", "Government", "Economy"))
    ingest(settings, {d: dataset.documents[d] for d in DOCS}, progress=False)
    exp = spec(local_llm_url, "rag", {"trim": {"trimming": {"top_k": 1, "max_chunk_chars": 200}}}, "trim-live")
    res = run_strategies(exp, components=Small(get_retriever(settings)), track=False, runs_root=home / "runs")
    base, trim = res.counters["baseline"], res.counters["trim"]
    assert trim["calls"] == base["calls"] == 4
    assert trim["input_tokens"] < base["input_tokens"] and res.counters["trim"]["input_tokens_saved"] > 0.2
    records = [r for r in res.result.records if r.arm.endswith("| trim")]
    assert all(len(r.answer.retrieved) <= 1 for r in records)
