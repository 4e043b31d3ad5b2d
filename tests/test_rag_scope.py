"""RAG measured the way users run it: the whole corpus by default, the oracle scope labelled, retrieval quality
(recall@k, MRR, gold-chunk share, unanswerable "looked relevant") per arm and per kind, per-arm sample sizes and the
headline comparison with its power.

The end-to-end test uses real components: MiniLM embeddings into embedded chromadb over the tiny BYO fixture corpus
(two documents, seconds to embed) and the real provider client against a counting HTTP server on 127.0.0.1.
"""

from pathlib import Path

import pytest
from servers import ChatServer

from toolkit.experiments.spec import SpecError, parse_spec
from toolkit.records import Answer, Question, RetrievedChunk, Step

FIXTURE = Path(__file__).parent / "fixtures" / "datasets" / "qa.jsonl"
RETRIEVE = Step(name="retrieve", provider="retriever/ChromaRetriever")


def chunk(doc: str, score: float = 0.5) -> RetrievedChunk:
    return RetrievedChunk(id=f"{doc}::x::0", doc_id=doc, text="t", score=score)


def rag_answer(*docs: str, shown: int | None = None, scores=None) -> Answer:
    scores = scores or [0.5] * len(docs)
    details = {} if shown is None else {"chunks_shown": shown}
    return Answer(text="x", method="rag", steps=(RETRIEVE,), details=details,
                  retrieved=tuple(chunk(d, s) for d, s in zip(docs, scores, strict=True)))


def test_retrieval_scorers_read_the_ranking_and_what_was_shown():
    from toolkit.metrics import retrieval_metrics, score

    two_gold = Question(id="m", question="Which is larger, A or B?", kind="multihop", answers=("A",), doc_ids=("a", "b"))
    answer = rag_answer("x", "a", "a", "y", shown=3)
    values = score(two_gold, answer, retrieval_metrics())
    assert values == {"recall_at_k": 0.5, "mrr": 0.5, "gold_chunk_share": pytest.approx(2 / 3), "looked_relevant": None}
    assert score(two_gold, rag_answer("y", "z"), ("recall_at_k", "mrr", "gold_chunk_share")) == {
        "recall_at_k": 0.0, "mrr": 0.0, "gold_chunk_share": 0.0}
    empty = Answer(text="x", method="rag", steps=(RETRIEVE,))  # retrieval came back empty: 0, not "does not apply"
    assert score(two_gold, empty, ("recall_at_k", "gold_chunk_share")) == {"recall_at_k": 0.0, "gold_chunk_share": 0.0}
    closed = Answer(text="A", method="closed_book", steps=(Step(name="answer", provider="local/m"),))
    assert set(score(two_gold, closed, retrieval_metrics()).values()) == {None}

    from toolkit.retrieval.settings import RELEVANCE_THRESHOLD

    none = Question(id="u", question="Who painted it?", kind="unanswerable")
    high = rag_answer("x", scores=[RELEVANCE_THRESHOLD + 0.01])
    low = rag_answer("x", scores=[RELEVANCE_THRESHOLD - 0.01])
    assert score(none, high, retrieval_metrics()) == {
        "recall_at_k": None, "mrr": None, "gold_chunk_share": None, "looked_relevant": 1.0}
    assert score(none, low, ("looked_relevant",)) == {"looked_relevant": 0.0}


def test_retrieval_metrics_are_registered_once_and_stay_out_of_paired_tests():
    from toolkit.metrics import METRICS, paired_metrics, retrieval_metrics

    names = retrieval_metrics()
    assert names == ("recall_at_k", "mrr", "gold_chunk_share", "looked_relevant")
    assert all(METRICS.info(n).aggregation == "mean" and METRICS.info(n).stage == "retrieval" for n in names)
    assert not set(names) & set(paired_metrics())
    assert METRICS.info("entity_hallucination_rate").aggregation == "pooled"


SPEC = """name: scope
dataset: factbook
sample_size: 8
providers: [local/smollm2-135m-instruct]
methods: [closed_book, rag]
"""


def test_retriever_options_are_checked_at_load_and_the_scope_changes_the_run_key():
    default = parse_spec(SPEC)
    assert default.retriever_settings().scope == "corpus"
    oracle = parse_spec(SPEC + "retriever: {scope: oracle, k: 3}\n")
    assert oracle.retriever_settings().scope == "oracle" and oracle.spec_hash() != default.spec_hash()
    assert parse_spec(SPEC + "retriever: {scope: corpus}\n").spec_hash() == default.spec_hash()
    # the older spelling still loads (stored runs keep their keys), read as the scope it meant
    legacy = parse_spec(SPEC + "retriever: {documents: all, k: 3}\n")
    assert legacy.retriever_settings().scope == "corpus"
    assert parse_spec(SPEC + "retriever: {documents: sample}\n").retriever_settings().scope == "oracle"
    with pytest.raises(SpecError, match=r"retriever.documents must be one of .*scope: corpus"):
        parse_spec(SPEC + "retriever: {documents: some}\n")
    with pytest.raises(SpecError, match=r":6: retriever.scope: Input should be 'corpus' or 'oracle'"):
        parse_spec(SPEC + "retriever: {scope: gold}\n")
    with pytest.raises(SpecError, match="k_chunks"):
        parse_spec(SPEC + "retriever: {k_chunks: 3}\n")


def test_oracle_scope_searches_gold_plus_distractors_and_says_so():
    from toolkit.retrieval.scope import describe, scoped
    from toolkit.retrieval.settings import ORACLE_DISTRACTORS, RetrieverSettings

    corpus = [f"d{i}" for i in range(20)]
    questions = [Question(id="q", question="?", kind="short", answers=("a",), doc_ids=("d3", "d7"))]
    settings, docs = scoped(RetrieverSettings(), corpus, questions)
    assert docs == tuple(sorted(corpus)) and settings.filters is None
    assert "whole corpus (20 of 20 documents" in describe(settings, len(docs), 20).label
    settings, docs = scoped(RetrieverSettings(scope="oracle"), corpus, questions, seed=1)
    assert {"d3", "d7"} <= set(docs) and len(docs) == 2 + ORACLE_DISTRACTORS
    assert settings.filters == {"doc_id": {"$in": list(docs)}}
    assert describe(settings, len(docs), 20).label.startswith("ORACLE retriever")


def test_smaller_arms_ask_a_nested_stratified_subset():
    from toolkit.datasets import load_dataset
    from toolkit.experiments.runner import arm_questions

    text = SPEC.replace("sample_size: 8", "sample_size: 20").replace(
        "methods: [closed_book, rag]", "methods: [closed_book, {name: rag, sample_size: 6}]")
    spec = parse_spec(text)
    questions = load_dataset("factbook", "dev").questions[:40]
    from toolkit.datasets import sample_from

    sampled = sample_from(questions, 20, seed=spec.seed)
    small = arm_questions(spec, spec.providers[0], spec.methods[1], sampled)
    assert len(small) == 6 and set(small) <= set(sampled)
    assert len({q.kind for q in small}) >= min(5, len({q.kind for q in sampled}))  # still stratified
    assert arm_questions(spec, spec.providers[0], spec.methods[0], sampled) == sampled
    assert parse_spec(text).spec_hash() != parse_spec(SPEC.replace("sample_size: 8", "sample_size: 20")).spec_hash()


class CitingServer(ChatServer):
    """Answers from the shown chunk when it holds the answer (citing it), else abstains."""

    def reply(self, prompt: str) -> str:
        if "Poseidonia" in prompt and "capital of Atlantis" in prompt:
            return "Poseidonia [c1]" if "[c1]" in prompt else "Poseidonia"
        return "I don't know"


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERLAB_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_a_default_rag_run_searches_the_whole_corpus_and_reports_retrieval_quality(home):
    from toolkit.experiments.report import summary_markdown
    from toolkit.experiments.runner import load_result, run_experiment
    from toolkit.tracking.metrics import arm_metrics
    from toolkit.ui.results import retrieval_html

    server = CitingServer()
    try:
        spec = parse_spec(
            f"name: byo-rag\ndataset: 'jsonl:{FIXTURE}'\nsplit: all\nsample_size: null\nseed: 0\n"
            f"providers:\n  - id: local/smollm2-135m-instruct\n    base_url: {server.url}\n    cache: false\n"
            "methods: [closed_book, rag]\nretriever: {k: 2}\n"
            "headline: ['local/smollm2-135m-instruct | rag', 'local/smollm2-135m-instruct | closed_book']\n"
        )
        result = run_experiment(spec, progress=False)
    finally:
        server.close()
    assert not result.errors, result.errors
    scope = result.retrieval
    assert scope.scope == "corpus" and scope.documents == scope.corpus_documents == 2  # atl + the q3 context
    assert (Path(result.run_dir) / "retrieval.json").is_file()
    rag = next(a for a in result.arms if a.method == "rag")
    closed = next(a for a in result.arms if a.method == "closed_book")
    assert not closed.retrieval_by_kind and "recall_at_k" not in closed.metrics
    assert rag.metrics["recall_at_k"].value == 1.0  # two documents, k=2: every gold document is found
    assert rag.metrics["mrr"].n == 3 and 0.5 <= rag.metrics["mrr"].value <= 1.0
    assert set(rag.retrieval_by_kind) == {"short", "list", "numeric", "unanswerable"}
    assert set(rag.retrieval_by_kind["unanswerable"]) == {"looked_relevant"}
    assert not {t.metric for t in result.comparisons} & {"recall_at_k", "mrr", "gold_chunk_share"}

    report = summary_markdown(result)
    assert "**Retrieval:** whole corpus (2 of 2 documents, k=2)" in report
    assert "| local/smollm2-135m-instruct | rag | all | 1.00 [1.00, 1.00] n=3 |" in report
    assert "**Headline comparison**" in report and "not tested, fewer than 10 paired" in report  # 4 pairs
    values = arm_metrics(rag)
    assert values["retrieval/recall_at_k"] == 1.0 and "retrieval/looked_relevant/unanswerable" in values
    assert "whole corpus" in retrieval_html(result)
    assert load_result(result.run_dir.rsplit("/", 1)[-1]).retrieval == scope  # replays keep the label


def test_the_headline_test_reports_holm_p_and_the_power_it_had():
    from types import SimpleNamespace

    from toolkit.experiments.headline import REFERENCE_EFFECT, headline
    from toolkit.metrics.power import mcnemar_power
    from toolkit.metrics.stats import adjust, compare

    rag = [1] * 14 + [0] * 4 + [1] * 6 + [0] * 8  # 32 paired questions: 14 discordant for RAG, 4 against
    closed = [0] * 14 + [1] * 4 + [1] * 6 + [0] * 8
    names = ("p | rag", "p | closed_book")
    tests = adjust([compare("accuracy", names[1], closed, names[0], rag),  # stored in sorted order: B first
                    compare("hallucination", names[1], closed, names[0], rag)])
    result = SimpleNamespace(spec=SimpleNamespace(headline=names, confidence=0.95), comparisons=tests)
    found = headline(result)
    assert found.test.arm_a == names[0] and found.test.diff == pytest.approx(10 / 32) and found.family == 2
    assert found.test.p_adjusted == pytest.approx(tests[0].p_adjusted)
    assert found.discordant_rate == pytest.approx(18 / 32)
    assert found.power_at_reference == pytest.approx(mcnemar_power(32, REFERENCE_EFFECT, 18 / 32))
    assert 0 < found.detectable_at_target < 18 / 32
    text = " ".join(found.sentences())
    assert "McNemar (exact)" in text and "Holm-adjusted p=" in text and "14+4 discordant" in text
    assert headline(SimpleNamespace(spec=SimpleNamespace(headline=None), comparisons=tests)) is None


def test_the_panel_keeps_the_headline_only_while_both_arms_are_chosen():
    from toolkit.examples import resolve_spec
    from toolkit.ui.state import ExperimentForm

    form = ExperimentForm.from_spec(resolve_spec("quickstart"))
    assert form.to_spec().headline == resolve_spec("quickstart").headline
    form.methods = ["closed_book", "cove_joint"]
    assert form.to_spec().headline is None
