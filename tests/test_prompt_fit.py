"""Prompts that fit the served model's context window: the lowest-ranked chunk is cut, then dropped, and CoVe's final
prompt loses its last verification entries, instead of the question failing with HTTP 400. Each cut is recorded.

The slow test is the real failing case: Factbook test split ``population-bt`` with k=3 chunks on the real SmolLM2
(1,024-token window) served by vLLM, through TierLab's provider client (window from the endpoint, count from the
model's own tokenizer).
"""

import pytest
from langchain_core.messages import HumanMessage

from toolkit.methods.fit import MIN_CHUNK_CHARS, fit_chunks, fit_entries
from toolkit.providers.context import PromptBudget, window_of
from toolkit.records import Question, RetrievedChunk


def by_chars(messages) -> int:
    """A stand-in counter: one token per 4 characters."""
    return sum(len(str(m.content)) for m in messages) // 4


def chunks(n: int, size: int = 800) -> list[RetrievedChunk]:
    return [RetrievedChunk(id=f"d{i}::s::0", doc_id=f"d{i}", text=f"Doc {i} " + "x" * size, score=1 - i / 10)
            for i in range(n)]


def render(numbered: str):
    return [HumanMessage(f"Question: How many?\n{numbered}")]


def test_a_prompt_that_fits_is_sent_as_built():
    budget = PromptBudget(window=2000, reserve=96, count=by_chars, source="test")
    messages, labels, shown, fitted = fit_chunks(budget, render, chunks(3), 800)
    assert shown == 3 and fitted is None and list(labels) == ["c1", "c2", "c3"]
    assert fit_chunks(None, render, chunks(3), 800)[3] is None  # no budget (a test double): nothing is fitted


def test_the_lowest_ranked_chunk_is_cut_first_then_dropped():
    budget = PromptBudget(window=600 + 96, reserve=96, count=by_chars, source="test")  # room for ~2.9 chunks
    messages, labels, shown, fitted = fit_chunks(budget, render, chunks(3), 800)
    assert shown == 3 and budget.fits(messages)
    assert fitted["chunk_limits"][:2] == [800, 800] and MIN_CHUNK_CHARS <= fitted["chunk_limits"][2] < 800
    assert fitted["chunks_dropped"] == 0 and fitted["prompt_tokens_before"] > fitted["prompt_limit"]
    assert fitted["prompt_tokens"] <= fitted["prompt_limit"] == 600 and fitted["context_window"] == 696
    tight = PromptBudget(window=430 + 96, reserve=96, count=by_chars, source="test")  # ~2 chunks, no room for a 3rd
    messages, labels, shown, fitted = fit_chunks(tight, render, chunks(3), 800)
    assert shown == 2 and fitted["chunks_dropped"] == 1 and list(labels) == ["c1", "c2"] and tight.fits(messages)
    hopeless = PromptBudget(window=100, reserve=96, count=by_chars, source="test")
    messages, labels, shown, fitted = fit_chunks(hopeless, render, chunks(3), 800)
    assert shown == 0 and fitted["still_too_long"] and "(none)" in messages[0].content


def test_entries_are_dropped_from_the_end():
    budget = PromptBudget(window=60, reserve=10, count=by_chars, source="test")
    entries = [f"Q: question {i}?\nA: answer {i}" for i in range(8)]
    messages, kept, fitted = fit_entries(budget, lambda shown: [HumanMessage("\n".join(shown))], entries)
    assert 0 < kept < 8 and fitted["entries_dropped"] == 8 - kept and budget.fits(messages)
    assert messages[0].content.endswith(f"answer {kept - 1}")


def test_the_window_is_read_from_what_the_endpoint_reports():
    ray_serve = {"data": [{"id": "smollm2-135m-instruct", "metadata": {"max_request_context_length": 1024}}]}
    assert window_of(ray_serve, "smollm2-135m-instruct") == (1024, "smollm2-135m-instruct")
    vllm = {"data": [{"id": "m", "max_model_len": 2048}]}
    assert window_of(vllm, "other") == (2048, "m")  # a self-hosted server serves one model, whatever its name
    emulator = {"data": [{"id": "llama-3.1-8b-instant", "max_model_len": 1024,
                          "metadata": {"backend_model": "smollm2-135m-instruct"}}]}
    assert window_of(emulator, "llama-3.1-8b-instant") == (1024, "smollm2-135m-instruct")
    cloud = {"data": [{"id": "a", "context_window": 8192}, {"id": "b", "context_window": 131072}]}
    assert window_of(cloud, "b") == (131072, "b") and window_of(cloud, "c") == (None, None)


POPULATION_BT = Question(id="population-bt", question="What is the estimated population of Bhutan?", kind="numeric",
                         answers=("892,877",), tolerance=0.1, doc_ids=("bt",), dataset="factbook")


@pytest.mark.slow
def test_population_bt_with_three_chunks_fits_the_real_1024_token_model(local_llm_url, local_llm_key, tmp_path,
                                                                         monkeypatch):
    from toolkit.datasets import load_dataset
    from toolkit.methods import get_method
    from toolkit.providers import get_chat_model
    from toolkit.retrieval import RetrieverSettings, get_retriever, ingest

    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TIERLAB_SERVE_API_KEY", local_llm_key)
    data = load_dataset("factbook", "test")
    settings = RetrieverSettings(persist_dir=str(tmp_path / "chroma"), k=3)
    ingest(settings, {"bt": data.documents["bt"]}, progress=False)
    llm = get_chat_model("local/smollm2-135m-instruct", base_url=local_llm_url, cache=False,
                         temperature=0, max_tokens=96)
    budget = llm.prompt_budget()
    assert budget.window == 1024 and budget.limit == 1024 - 96 and "tokenizer" in budget.source

    answer = get_method("rag")(POPULATION_BT, llm, retriever=get_retriever(settings))  # HTTP 400 before the fix
    fitted = answer.details["prompt_fit"]
    assert fitted["prompt_tokens_before"] > 1024 - 96  # the three chunks did not fit: the real failing case
    assert fitted["prompt_tokens"] <= fitted["prompt_limit"] and "prompt_trimmed" in answer.flags
    step = next(s for s in answer.steps if s.name == "answer")
    assert step.usage.input_tokens == fitted["prompt_tokens"]  # our count is the server's own
    assert answer.details["chunks_shown"] == 3 - fitted["chunks_dropped"] >= 1


def test_an_emulated_arm_gets_the_window_of_the_model_behind_the_emulator(tmp_path, monkeypatch):
    """The emulated Groq arm runs the local 1,024-token model: its prompts must fit that, not Groq's 131,072."""
    from servers import ChatServer

    from toolkit.providers import get_chat_model, running_emulator

    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GROQ_API_KEY", "emulated-placeholder-not-a-secret")

    class Small(ChatServer):
        card = {"max_model_len": 1024}

    backend = Small()
    try:
        with running_emulator("groq/llama-3.1-8b-instant", backend.url) as url:
            llm = get_chat_model("groq/llama-3.1-8b-instant", base_url=url, emulated=True, max_tokens=64)
            budget = llm.prompt_budget()
    finally:
        backend.close()
    assert budget.window == 1024 and budget.limit == 1024 - 64
    assert "groq/llama-3.1-8b-instant endpoint" in budget.source
    direct = get_chat_model("groq/llama-3.1-8b-instant", base_url="http://127.0.0.1:9/v1", max_tokens=64)
    assert direct.prompt_budget().window == 131072  # nothing answers there: the catalog's window
