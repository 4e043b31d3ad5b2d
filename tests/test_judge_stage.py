"""Judging as one stage: a judge registered once is used by runs, the strategies runner, re-judge and
`tierlab judge eval` (all through ``judge_all``); answers keep ``verdicts`` per judge; older stores and specs load."""

import json

import pytest
from test_strategies_run import Fakes
from test_ui import GoldServer, home, small_spec  # noqa: F401 - fixtures
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.experiments.spec import SpecError, parse_spec
from toolkit.experiments.store import AnswerRecord, Store
from toolkit.judges import JUDGES, JudgeInput, Verdict, get_judge
from toolkit.judges.answers import judge_all

SPEC = "name: s\nproviders: [local/smollm2-135m-instruct]\nmethods: [closed_book]\n"
CALLS: list[str] = []


def contrarian(item: JudgeInput) -> Verdict:
    """Calls every answer hallucinated and counts what it saw (a judge the rest of TierLab has never heard of)."""
    CALLS.append(item.answer)
    return Verdict(judge="contrarian", version="contrarian-v1", hallucinated=True, reason="always")


@pytest.fixture
def registered():
    JUDGES.register("contrarian", contrarian)
    CALLS.clear()
    yield "contrarian"
    JUDGES._entries.pop("contrarian")


def test_judge_all_keeps_order_and_turns_a_failing_judge_into_unknown():
    def broken(item):
        raise ConnectionError("endpoint down")

    item = JudgeInput(question="What is the capital of France?", answer="Paris.", gold=("Paris",))
    judges = {"claims": get_judge("claims", use_embeddings=False), "broken": broken}
    errors: list[str] = []
    verdicts = judge_all(judges, item, errors)
    assert list(verdicts) == ["claims", "broken"] and verdicts["claims"].label == "supported"
    assert verdicts["broken"].unknown and "endpoint down" in verdicts["broken"].reason
    assert errors == ["judge broken: ConnectionError: endpoint down"]
    with pytest.raises(ConnectionError):
        judge_all(judges, item)


def test_a_spec_lists_judges_by_name_and_the_older_judge_key_still_works():
    assert [j.name for j in parse_spec(SPEC).judges] == ["offline"]
    spec = parse_spec(SPEC + "judges: [rules, {name: local/smollm2-135m-instruct, sample: 3}]\n")
    assert [(j.name, j.sample) for j in spec.judges] == [("offline", None), ("llm:local/smollm2-135m-instruct", 3)]
    assert spec.llm_judge.provider == "local/smollm2-135m-instruct"
    old = parse_spec(SPEC + "judge: {provider: local/smollm2-135m-instruct, sample: 2, use_embeddings: false}\n")
    assert [(j.name, j.sample, j.options) for j in old.judges] == [
        ("offline", None, {}), ("llm:local/smollm2-135m-instruct", 2, {})]  # the offline judge embeds nothing
    assert [j.name for j in parse_spec(SPEC + "judge: {provider: rules}\n").judges] == ["offline"]


@pytest.mark.parametrize("extra, message", [
    ("judges: [ofline]\n", "Did you mean 'offline'"),
    ("judges: [{name: offline, options: {use_embeddings: false}}]\n", "judge 'offline' takes no option 'use_embeddings'"),
    ("judges: [{name: offline, sample: 2}]\n", "the first judge is the primary one"),
    ("judges: [offline, offline]\n", "judge 'offline' is listed twice"),
    ("judge: {provider: rules}\njudges: [offline]\n", "not both"),
])
def test_bad_judge_lists_are_clear_errors(extra, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(SPEC + extra)


def test_older_store_lines_load_with_verdict_and_llm_verdict_as_read_only_views(tmp_path):
    """A schema-2 line (``verdict`` + ``llm_verdict``) as TierLab wrote it before ``verdicts``."""
    old = {"schema_version": 2, "arm": "p | m", "provider": "p", "method": "m",
           "question": {"id": "q1", "question": "Capital of France?", "kind": "short", "answers": ["Paris"]},
           "answer": {"text": "Lyon", "method": "m"}, "latency_s": 0.5,
           "verdict": {"judge": "claims", "version": "claims-v4", "hallucinated": True},
           "llm_verdict": {"judge": "llm", "version": "llm-judge-v2", "hallucinated": False}}
    (tmp_path / "answers.jsonl").write_text(json.dumps(old) + "\n", encoding="utf-8")
    record = Store(tmp_path).records()[("p | m", "q1")]
    assert list(record.verdicts) == ["claims", "llm"]
    assert record.verdict.hallucinated and record.llm_verdict.version == "llm-judge-v2"
    written = json.loads(record.model_dump_json())
    assert "verdict" not in written and set(written["verdicts"]) == {"claims", "llm"}
    assert AnswerRecord.model_validate(written) == record
    with pytest.raises(ValueError):
        record.verdict = record.llm_verdict  # a view, not a field


def test_a_registered_judge_is_used_by_runs_rejudge_and_judge_eval(home, registered, tmp_path):  # noqa: F811
    from toolkit.experiments.runner import run_experiment
    from toolkit.judges.rejudge import rejudge

    server = GoldServer()
    try:
        spec = small_spec(server.url, sample_size=2, judges=["offline", registered])
        result = run_experiment(spec, progress=False)
    finally:
        server.close()
    assert result.records and all(list(r.verdicts) == ["offline", registered] for r in result.records)
    assert all(r.verdicts[registered].hallucinated for r in result.records)
    assert len(CALLS) == len(result.records)

    outcome = rejudge(result, get_judge(registered), registered)
    assert all(v.hallucinated for v in outcome.verdicts.values()) and len(CALLS) == 2 * len(result.records)

    labelled = tmp_path / "set.jsonl"
    labelled.write_text(json.dumps({"question": "Capital of France?", "answer": "Paris", "label": "supported",
                                    "gold": ["Paris"]}) + "\n", encoding="utf-8")
    shown = CliRunner().invoke(app, ["judge", "eval", str(labelled), "--judge", registered, "--json"])
    assert shown.exit_code == 0 and json.loads(shown.stdout.splitlines()[-1])["false_alarm"] == 1.0


def test_the_strategies_runner_judges_through_the_same_stage(registered, tmp_path):
    from toolkit.strategy_runs import StrategyExperiment, run_strategies

    exp = StrategyExperiment.model_validate({
        "experiment": {"name": "strategies-judges", "dataset": "factbook", "methods": ["closed_book"],
                       "providers": ["local/smollm2-135m-instruct"], "judges": ["offline", registered]},
        "arms": {"cache": {"caching": {"exact": True}}}})

    res = run_strategies(exp, components=Fakes(), track=False, runs_root=tmp_path / "runs",
                         review_root=tmp_path / "review")
    records = res.result.records
    assert records and all(list(r.verdicts) == ["offline", registered] for r in records)
    assert len(CALLS) == len(records)
