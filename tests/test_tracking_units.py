"""Fast checks of the pieces MLflow logging is built from, each on the case a naive version gets wrong
(``max_tokens`` masked as a secret, a paid call counted twice, a span clamped to a negative duration …).
The same behaviour is checked end to end against a real ``mlflow server`` in test_tracking.py."""

from datetime import UTC, datetime, timedelta

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, get_buffer_string

from toolkit.experiments.results import ArmSummary
from toolkit.experiments.store import AnswerRecord
from toolkit.judges import Verdict
from toolkit.metrics.stats import Interval, PairedTest
from toolkit.records import Answer, Question, RetrievedChunk, Step, Usage
from toolkit.tracking import params
from toolkit.tracking.metrics import (
    arm_metrics,
    arm_params,
    cost_metrics,
    metric_key,
    parse_interval,
    significance,
)
from toolkit.tracking.provenance import host
from toolkit.tracking.traces import NOT_KEPT, _documents, chat_messages, layout


@pytest.mark.parametrize("name", ["api_key", "GROQ_API_KEY", "HF_TOKEN", "access_token", "Authorization",
                                  "client_secret", "password", "key", "x-api-key", "apiKey"])
def test_secret_names_are_masked(name):
    assert params.is_secret_name(name)
    assert params.safe_params({name: "abc"}) == {name: "***"}


@pytest.mark.parametrize("name", ["max_tokens", "max_completion_tokens", "maxTokens", "key_env", "monkey",
                                  "tokens", "input_tokens", "ci/quality/token_f1"])
def test_ordinary_names_that_contain_secret_words_are_not_masked(name):
    assert not params.is_secret_name(name)


def test_params_are_json_numbers_not_python_repr():
    logged = params.safe_params({"max_tokens": 24, "temperature": 0.1 + 0.2, "methods": ("closed_book", "rag"),
                                 "options": {"k": 3, "on": True}, "missing": None, "label": "a b"}, secrets=())
    assert logged["max_tokens"] == "24" and float(logged["max_tokens"]) == 24
    assert logged["temperature"] == "0.3"
    assert logged["methods"] == '["closed_book", "rag"]'
    assert logged["options"] == '{"k": 3, "on": true}'
    assert logged["missing"] == "null" and logged["label"] == "a b"
    assert params.round_float(0.000123456789) == 0.000123457  # small dollar amounts keep their digits


def test_secret_values_from_the_environment_are_scrubbed_from_any_value():
    env = {"GROQ_API_KEY": "gsk_live_0123456789abcdef", "MY_CUSTOM": "custom-credential-123", "SHORT_TOKEN": "1",
           "PATH": "/usr/bin"}
    secrets = params.secret_values(env, names=["MY_CUSTOM"])
    assert set(secrets) == {"gsk_live_0123456789abcdef", "custom-credential-123"}  # "1" is too short to scrub
    logged = params.safe_params({"base_url": "https://x.test/v1?key=gsk_live_0123456789abcdef",
                                 "note": ["custom-credential-123"]}, secrets)
    assert logged == {"base_url": "https://x.test/v1?key=***", "note": '["***"]'}
    assert params.redact({"providers": [{"params": {"api_key": "k", "max_tokens": 5}}]}) == {
        "providers": [{"params": {"api_key": "***", "max_tokens": 5}}]
    }


def test_host_keeps_no_path_query_or_login():
    assert host("https://user:pw@api.groq.com/openai/v1?key=abc") == "api.groq.com"
    assert host("http://127.0.0.1:8010/v1") == "127.0.0.1:8010"
    assert host("https://api.cloudflare.com/client/v4/accounts/ACCOUNT/ai/v1") == "api.cloudflare.com"
    assert host(None) == "" and host("not a url") == ""


def test_metric_names_are_grouped_for_the_chart_sections():
    assert metric_key("accuracy") == "quality/accuracy"
    assert metric_key("hallucination_rate") == "hallucination/rate"
    assert metric_key("latency_p95_s") == "latency/p95_s"
    assert metric_key("answered") == "usage/answered" and metric_key("output_tokens") == "usage/output_tokens"
    assert metric_key("some_new_count", default="usage") == "usage/some_new_count"
    assert metric_key("cost/total_usd_per_1k_questions") == "cost/total_usd_per_1k_questions"


def _arm(metrics=None, **cost) -> ArmSummary:
    return ArmSummary(arm="a", provider="p", method="m", planned=4, answered=4, metrics=metrics or {}, cost=cost)


def test_cost_per_1000_questions_counts_a_paid_call_once_and_adds_self_hosting():
    paid = cost_metrics(_arm(cost_usd=0.0004, shadow_cost_usd=0.0004, selfhosted_cost_usd=0.0, correct=2))
    assert paid["cost/total_usd_per_1k_questions"] == pytest.approx(0.1)  # not 0.2: charged == shadow for paid tiers
    assert paid["cost/total_usd_per_1k_correct"] == pytest.approx(0.2)
    assert paid["cost/charged_usd_per_1k_questions"] == paid["cost/paid_tier_usd_per_1k_questions"]
    free = cost_metrics(_arm(cost_usd=0.0, shadow_cost_usd=0.0008, selfhosted_cost_usd=0.0, correct=0))
    assert free["cost/total_usd_per_1k_questions"] == pytest.approx(0.2) and "cost/total_usd_per_1k_correct" not in free
    hosted = cost_metrics(_arm(cost_usd=0.0, shadow_cost_usd=0.0, selfhosted_cost_usd=0.00012, correct=3))
    assert hosted["cost/selfhosted_usd_per_1k_questions"] == pytest.approx(0.03)
    assert all(k.startswith("cost/") and k.endswith(("_per_1k_questions", "_per_1k_correct")) for k in hosted)


def test_an_arm_logs_a_compact_metric_set_with_intervals_as_params():
    accuracy = Interval(value=0.5, low=0.15, high=0.85, n=4, method="wilson")
    arm = _arm({"accuracy": accuracy, "token_f1": Interval(value=0.61, low=0.4, high=0.8, n=4, method="bca"),
                "hallucination_rate": Interval(value=0.25, low=0.05, high=0.7, n=4, method="wilson"),
                "list_precision": None},
               calls=8, network_calls=8, cached_calls=0, input_tokens=900, output_tokens=80, rate_limited=0,
               latency_p50_s=1.2, latency_p95_s=2.0, latency_n=4, cost_usd=0.0, shadow_cost_usd=0.0004,
               selfhosted_cost_usd=0.0, correct=2, shadow_cost_per_correct_usd=0.0002, answered_from_cache=1)
    logged = arm_metrics(arm)
    assert logged["quality/accuracy"] == 0.5 and logged["hallucination/rate"] == 0.25
    assert "quality/token_f1" not in logged  # not a headline metric: its value is in its ci/ param
    assert not any(k.endswith(("_ci_low", "_ci_high", "_n")) for k in logged)
    assert {k.split("/")[0] for k in logged} == {"quality", "hallucination", "latency", "usage", "cost"}
    assert len(logged) <= 20
    params = arm_params(arm)
    assert params["ci/quality/accuracy"] == "0.5 [0.15, 0.85] n=4"
    assert parse_interval(params["ci/quality/token_f1"]) == (0.61, 0.4, 0.8, 4)
    assert params["accounting.answered_from_cache"] == 1 and "accounting.shadow_cost_per_correct_usd" not in params
    assert parse_interval(None) is None


def _test(p_adjusted, diff=0.5, metric="accuracy"):
    return PairedTest(metric=metric, arm_a="A", arm_b="B", n=20, diff=diff, low=0.1, high=0.9, test="mcnemar",
                      p_value=None if p_adjusted is None else p_adjusted / 2, p_adjusted=p_adjusted)


def test_significance_goes_to_the_parent_with_readable_arm_names():
    names = {"A": "rag · local", "B": "closed_book · local"}
    metrics, tags, arm_tags = significance([_test(0.004), _test(None, metric="token_f1"),
                                            _test(0.03, diff=-0.2, metric="hallucination")], 0.05, names)
    assert metrics["significance/accuracy/significant_pairs"] == 1 and metrics["significance/accuracy/min_p_holm"] == 0.004
    assert metrics["significance/too_few_to_test"] == 1 and not any("token_f1" in k for k in metrics)
    assert tags["tierlab.significant.accuracy"] == "rag · local > closed_book · local (+0.50, p=0.004)"
    assert tags["tierlab.significant.hallucination"] == "closed_book · local > rag · local (+0.20, p=0.03)"
    assert arm_tags["A"]["tierlab.significant.accuracy"] == "higher than closed_book · local (p=0.004)"
    none, none_tags, _ = significance([_test(0.3)], 0.05)
    assert none["significance/accuracy/significant_pairs"] == 0 and none["significance/accuracy/tested_pairs"] == 1
    assert none_tags == {}


def test_run_names_are_short_and_unique():
    from toolkit.experiments.spec import arm_labels, parse_spec, short_provider_names
    from toolkit.tracking.runs import arm_run_name, parent_run_name

    spec = parse_spec("name: quickstart\nproviders:\n  - local/smollm2-135m-instruct\n"
                      "  - {id: groq/llama-3.1-8b-instant, emulate: true}\n  - groq/llama-3.1-8b-instant\n"
                      "  - groq/llama-3.3-70b-versatile\nmethods: [closed_book, rag_cove]\n")
    short = short_provider_names(spec.providers)
    assert list(short.values()) == ["local", "groq/llama-3.1-8b-instant~emu", "groq/llama-3.1-8b-instant",
                                    "groq/llama-3.3-70b-versatile"]  # two Groq models: the vendor is not enough
    assert list(short_provider_names(spec.providers[:3]).values()) == ["local", "groq~emu", "groq"]
    assert arm_run_name(spec.providers[0], spec.methods[1], spec.providers) == "rag_cove · local"
    assert arm_labels(spec)["groq/llama-3.1-8b-instant~emulated | closed_book"] == "closed_book · groq/llama-3.1-8b-instant~emu"
    strategy = "local/smollm2-135m-instruct | closed_book | cache"  # a strategy arm keeps its strategy
    assert arm_labels(spec, [strategy])[strategy] == "closed_book · local · cache"
    assert arm_labels(spec, ["elsewhere | x"])["elsewhere | x"] == "elsewhere | x"
    assert parent_run_name(spec, spec.run_key()) == f"quickstart · {spec.spec_hash()}"


def test_cancelled_and_failed_runs_are_not_marked_finished():
    from toolkit.experiments.results import ExperimentResult
    from toolkit.experiments.spec import parse_spec
    from toolkit.tracking.runs import _arm_status, _status

    spec = parse_spec("name: s\nproviders: [local/smollm2-135m-instruct]\nmethods: [closed_book, rag]\n")

    def result(*arms, failed=()):
        return ExperimentResult(spec=spec, run_key="s-1", run_dir="/tmp/s", arms=arms, comparisons=(), records=(),
                                failed_arms=failed)

    done = _arm().model_copy(update={"arm": "x"})
    cancelled = _arm().model_copy(update={"arm": "y", "answered": 2, "stopped": "cancelled"})
    failed = _arm().model_copy(update={"arm": "z", "answered": 0})
    assert [_arm_status(a, result(done, cancelled, failed)) for a in (done, cancelled, failed)] == [
        "FINISHED", "KILLED", "FAILED"]
    assert _status(result(done, cancelled)) == "KILLED" and _status(result(done)) == "FINISHED"
    assert _status(result(failed, failed.model_copy(update={"arm": "w"}), failed=("z",))) == "FAILED"


def test_prompts_come_back_as_chat_messages():
    prompt = get_buffer_string([SystemMessage("Be brief."), HumanMessage("Q: capital of France?\nThink."),
                                AIMessage("Paris."), HumanMessage("And Spain?")])
    assert chat_messages(prompt) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Q: capital of France?\nThink."},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And Spain?"},
    ]
    assert chat_messages("a bare retrieval query") == [{"role": "user", "content": "a bare retrieval query"}]


def _record(steps, latency_s, finished_at) -> AnswerRecord:
    question = Question(id="q1", question="Capital of France?", kind="short", answers=("Paris",))
    return AnswerRecord(arm="p | m", provider="p", method="m", question=question,
                        answer=Answer(text="Paris", method="m", steps=tuple(steps)), latency_s=latency_s,
                        verdict=Verdict(judge="claims", version="claims-v1", hallucinated=False), finished_at=finished_at)


def test_span_times_are_never_negative_even_with_whole_second_finish_times():
    # The old layout clamped each step's end to finished_at; with finished_at rounded down to the second, the
    # last step ("final") ended before it started (-1168 ms in the UI).
    finished = datetime(2026, 12, 1, 12, 0, 5, tzinfo=UTC).isoformat(timespec="seconds")
    steps = [Step(name=n, usage=Usage(latency_s=s)) for n, s in
             (("baseline", 0.6), ("verify[1]", 0.5), ("verify[2]", 0.7), ("final", 1.2))]
    start, end, spans = layout(_record(steps, latency_s=1.5, finished_at=finished))
    assert all(b <= e for _, b, e in spans) and start <= end
    assert all(start <= b and e <= end for _, b, e in spans)
    by_name = {s.name: (b, e) for s, b, e in spans}
    assert by_name["verify[1]"][0] == by_name["verify[2]"][0] == by_name["baseline"][1]  # one parallel batch
    assert by_name["final"][0] == by_name["verify[2]"][1]
    assert [round((e - b) / 1e9, 3) for _, b, e in spans] == [0.6, 0.5, 0.7, 1.2]


def test_precise_finish_times_keep_the_root_span_exactly_the_measured_latency():
    finished = (datetime(2026, 12, 1, tzinfo=UTC) + timedelta(microseconds=123456)).isoformat()
    start, end, _ = layout(_record([Step(name="answer", usage=Usage(latency_s=0.2))], 0.25, finished))
    assert (end - start) / 1e9 == pytest.approx(0.25)


def test_retriever_spans_list_every_retrieved_chunk_with_its_text_and_mark_the_shown_ones():
    chunks = (RetrievedChunk(id="fr::geo::0", doc_id="fr", text="Paris is the capital.", score=0.91),
              RetrievedChunk(id="de::geo::3", doc_id="de", text="Berlin is the capital.", score=0.52))
    step = Step(name="retrieve", prompt="capital of France", output="fr::geo::0 (0.910)\nde::geo::3 (0.520)",
                documents=chunks)
    answer = Answer(text="Paris [c1]", method="rag", steps=(step,), retrieved=chunks, details={"chunks_shown": 1})
    docs = _documents(step, answer)
    assert docs[0] == {"id": "fr::geo::0", "page_content": "Paris is the capital.",
                       "metadata": {"doc_uri": "fr", "chunk_id": "fr::geo::0", "score": 0.91, "rank": 1,
                                    "shown_in_prompt": True}}
    assert docs[1]["page_content"] == "Berlin is the capital." and docs[1]["metadata"]["shown_in_prompt"] is False
    # rag_cove keeps only the shown chunks on the answer: the step's own documents still carry the others' text
    cove = Answer(text="Paris", method="rag_cove", steps=(step,), retrieved=chunks[:1])
    assert [d["metadata"]["shown_in_prompt"] for d in _documents(step, cove)] == [True, False]
    assert _documents(step, cove)[1]["page_content"] == "Berlin is the capital."
    # an answer stored before steps kept their documents: text from the answer, never an empty text or doc_uri
    old = step.model_copy(update={"documents": ()})
    docs = _documents(old, cove)
    assert docs[0]["page_content"] == "Paris is the capital." and docs[1]["page_content"] == NOT_KEPT
    assert docs[1]["metadata"]["doc_uri"] == "de"


def test_assessments_read_true_as_good_and_tags_name_the_verdict():
    from toolkit.tracking.traces import _supported, verdict_tags

    def verdict(**kw):
        return Verdict(judge="claims", version="claims-v4", **kw)

    source = object()
    assert _supported(verdict(hallucinated=True, reason="Lyon unsupported"), source) == {
        "value": False, "rationale": "hallucinated: Lyon unsupported", "source": source}
    assert _supported(verdict(hallucinated=False), source)["value"] is True
    assert _supported(verdict(hallucinated=False, abstained=True), source)["value"] is True  # claims nothing
    assert _supported(verdict(hallucinated=False, unknown=True), source) is None
    record = _record([], 0.1, "2026-12-01T00:00:00+00:00").model_copy(
        update={"verdicts": {"claims": verdict(hallucinated=True)}})
    assert verdict_tags(record, {"accuracy": 0.0}) == {"verdict": "hallucinated", "correct": "false"}
    assert verdict_tags(record, {"accuracy": None}) == {"verdict": "hallucinated"}


def test_dataset_digest_follows_the_contents_not_the_location(tmp_path):
    from toolkit.datasets.files import dataset_files, files_digest

    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "qa.jsonl").write_text('{"question": "q", "answers": ["a"]}\n')
    one, two = (dataset_files(f"jsonl:{tmp_path / f}/qa.jsonl", "all") for f in ("one", "two"))
    assert files_digest(one) == files_digest(two)
    (tmp_path / "two" / "qa.jsonl").write_text('{"question": "q", "answers": ["b"]}\n')
    assert files_digest(one) != files_digest(two)
    assert len(dataset_files("factbook", "dev")) > 1  # questions + the corpus documents


def test_load_runs_leaves_out_superseded_runs(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from toolkit.tracking import load_runs

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("resumed")
    old = client.create_run(experiment, tags={"tierlab.kind": "experiment"}).info.run_id
    new = client.create_run(experiment, tags={"tierlab.kind": "experiment"}).info.run_id
    client.set_tag(old, "tierlab.superseded_by", new)
    assert list(load_runs("resumed", tracking_uri=uri, kind="experiment")["run_id"]) == [new]
    assert set(load_runs("resumed", tracking_uri=uri, kind="experiment", current=False)["run_id"]) == {old, new}


def test_the_spec_is_logged_as_written_and_as_run_with_skipped_arms_and_why():
    import json

    import yaml

    from toolkit.experiments.results import ExperimentResult
    from toolkit.experiments.spec import parse_spec
    from toolkit.tracking.tables import spec_texts

    spec = parse_spec("name: s\nproviders:\n  - id: local/smollm2-135m-instruct\n"
                      "    params: {max_tokens: 24, api_key: sk-in-the-spec}\nmethods: [closed_book, rag]\n")
    result = ExperimentResult(spec=spec, run_key="s-1", run_dir="/tmp/s", arms=(), comparisons=(), records=(),
                              skipped={"groq/llama-3.1-8b-instant": "$GROQ_API_KEY is not set"})
    texts = spec_texts(result)
    written, resolved = yaml.safe_load(texts["spec.yaml"]), yaml.safe_load(texts["spec_resolved.yaml"])
    assert "seed" not in written and resolved["seed"] == 0 and resolved["judges"][0]["name"] == "offline"  # defaults filled in
    assert written["providers"][0]["params"] == {"max_tokens": 24, "api_key": "***"}
    assert json.loads(texts["skipped.json"])["skipped_arms"] == {
        "groq/llama-3.1-8b-instant | closed_book": "$GROQ_API_KEY is not set",
        "groq/llama-3.1-8b-instant | rag": "$GROQ_API_KEY is not set",
    }


def test_the_judges_that_produced_the_verdicts_are_logged_with_real_answer_cards_only(tmp_path, monkeypatch):
    import json

    from toolkit.experiments.results import ExperimentResult
    from toolkit.experiments.spec import parse_spec
    from toolkit.judges import card
    from toolkit.judges.card import is_real_answer_card
    from toolkit.tracking.runs import _judge

    spec = parse_spec("name: j\nproviders: [local/smollm2-135m-instruct]\nmethods: [closed_book]\n"
                      "judges: [offline, llm:local/smollm2-135m-instruct]\n")
    record = _record([], 0.1, "2026-12-01T00:00:00+00:00")
    record = record.model_copy(update={"verdicts": {**record.verdicts, "llm:local/smollm2-135m-instruct": Verdict(
        judge="llm", version="llm-judge-v2", hallucinated=True)}})
    result = ExperimentResult(spec=spec, run_key="j-1", run_dir="/tmp/j", arms=(), comparisons=(), records=(record,))
    figures = {"n": 160, "balanced_accuracy": 0.75, "balanced_accuracy_ci": [0.65, 0.85], "false_alarm": 0.4}
    cards = {"offline": {"version": "offline-v1", "sets": {"real_answers_test": {"overall": figures, "settings": {}}}},
             "llm:local/smollm2-135m-instruct": {"version": "llm-judge-v2", "sets": {  # HaluEval only
                 "halueval_card": {"overall": figures, "settings": {}}}}}
    (tmp_path / "cards.json").write_text(json.dumps(cards), encoding="utf-8")
    monkeypatch.setattr(card, "CARD_FILE", tmp_path / "cards.json")
    logged = _judge(result)
    assert logged["params"]["judge.name"] == ["claims"] and logged["params"]["llm_judge.version"] == ["llm-judge-v2"]
    # figures on real answers are logged (their intervals as params); a judge measured on HaluEval only logs none
    assert logged["metrics"] == {"judge/n": 160.0, "judge/balanced_accuracy": 0.75, "judge/false_alarm": 0.4}
    assert logged["params"]["judge.card_split"] == "real_answers_test" and "llm_judge.card_split" not in logged["params"]
    assert not is_real_answer_card({"measured": True, "split": "test", "figures": {"balanced_accuracy": 0.994}})
    assert is_real_answer_card({"measured": True, "split": "real_answers_test"})
