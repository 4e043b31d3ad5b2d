"""Answering methods with a scripted chat model: the information flow of each CoVe variant matches the paper
(arXiv:2309.11495), junk model output is flagged and falls back to the baseline, steps are complete."""

import json

import pytest
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from scripted import ScriptedChatModel

from toolkit.methods import METHODS, get_method
from toolkit.records import Answer, Question

LIST_Q = Question(id="q1", question="Which countries border Testland?", kind="list", answers=("Alpha", "Beta"))
SHORT_Q = Question(id="q2", question="Who founded Testland?", kind="short", answers=("Ada",))
BASELINE = "Alpha, Beta, Gamma"
VQ = ["Does Alpha border Testland?", "Does Beta border Testland?", "Does Gamma border Testland?"]

RULES = [
    (r"^Which countries border Testland\?", BASELINE),  # the closed-book baseline
    (r"verification question for each item", "1. " + VQ[0] + "\n2. " + VQ[1] + "\n3. " + VQ[2] + "\nHope this helps!"),
    (r"as lines 'Q: \.\.\.'", f"Q: {VQ[0]}\nA: Yes.\nQ: {VQ[1]}\nA: Yes.\nQ: {VQ[2]}\nA: No."),
    (r"on its own numbered line", "1. Yes.\n2. Yes.\n3. No, Gamma is far away."),
    (r"^Does Alpha", "Yes, it does."),
    (r"^Does Beta", "Yes."),
    (r"^Does Gamma", "No, Gamma is far away."),
    (r"Verification question: Does Gamma", "INCONSISTENT: Gamma does not border Testland."),
    (r"^Original answer", "CONSISTENT."),
    (r"Keep only the items", "Alpha, Beta"),  # the rule filter's final prompt
    (r"comma-separated list\.$", "Alpha, Beta"),  # CoVe's final prompt: the model's revised list
]


def scripted(**changes) -> ScriptedChatModel:
    rules = [(pattern, changes.get(pattern, reply)) for pattern, reply in RULES]
    return ScriptedChatModel(rules=rules, default="")


def step_names(answer: Answer) -> list[str]:
    return [step.name for step in answer.steps]


def step(answer: Answer, name: str):
    return next(s for s in answer.steps if s.name == name)


class KeywordRetriever(BaseRetriever):
    """A deterministic retriever over a handful of documents (word overlap), for prompt-structure tests.
    The real chromadb retriever is exercised in tests/test_methods_real.py."""

    docs: list[Document]
    k: int = 2

    def _get_relevant_documents(self, query: str, *, run_manager=None) -> list[Document]:
        words = set(query.lower().strip("?").split())
        scored = sorted(self.docs, key=lambda d: -len(words & set(d.page_content.lower().strip(".").split())))
        return [Document(d.page_content, metadata={**d.metadata, "score": 0.5}) for d in scored[: self.k]]


def retriever() -> KeywordRetriever:
    docs = [
        ("tl#borders#0", "tl", "Testland borders Alpha and Beta."),
        ("ga#location#0", "ga", "Gamma is an island far away from Testland."),
        ("tl#history#0", "tl", "Testland was founded by Ada."),
    ]
    return KeywordRetriever(docs=[Document(text, metadata={"chunk_id": cid, "doc_id": did}) for cid, did, text in docs])


def test_registry_has_every_method_and_each_returns_an_answer():
    assert METHODS.names() == sorted(
        ["closed_book", "rag", "cove_joint", "cove_two_step", "cove_factored", "cove_factor_revise",
         "cove_factored_rulefilter", "rag_cove", "rag_cove_rag_baseline"]
    )
    for name in METHODS.names():
        llm = scripted()
        method = get_method(name)
        answer = method(LIST_Q, llm, retriever())
        assert isinstance(answer, Answer) and answer.method == name
        assert len(llm.prompts) == answer.usage.calls <= method.expected_calls
        assert method.needs_retriever == name.startswith("rag")
        json.dumps(answer.model_dump())  # results must round-trip through the JSON result store


def test_closed_book_is_one_call_with_the_question():
    llm = scripted()
    answer = get_method("closed_book")(LIST_Q, llm)
    assert answer.text == BASELINE and step_names(answer) == ["answer"] and len(llm.prompts) == 1
    assert LIST_Q.question in answer.steps[0].prompt and answer.details["prompt_version"] == "answer-v1"


def test_steps_are_complete_for_tracing():
    answer = get_method("cove_factor_revise")(LIST_Q, scripted())
    for s in answer.steps:
        assert s.prompt and s.output and s.provider == "scripted/fake" and s.usage.calls == 1
        assert s.usage.input_tokens > 0
    assert answer.usage.calls == len(answer.steps) == 1 + 1 + 3 + 3 + 1
    assert get_method("cove_factor_revise", max_verification_questions=3).expected_calls == 9
    assert answer.details["prompt_version"] == "cove-v3+answer-v1"


def test_joint_plans_and_answers_in_one_prompt():
    llm = scripted()
    answer = get_method("cove_joint")(LIST_Q, llm)
    assert step_names(answer) == ["baseline", "plan_and_verify", "final"]
    assert BASELINE in step(answer, "plan_and_verify").prompt
    assert answer.details["verification_questions"] == VQ
    assert answer.details["verification_answers"] == ["Yes.", "Yes.", "No."]
    assert answer.text == "Alpha, Beta" and answer.details["dropped_items"] == ["Gamma"]
    assert answer.flags == ()


def test_two_step_answers_see_only_the_questions():
    answer = get_method("cove_two_step")(LIST_Q, scripted())
    assert step_names(answer) == ["baseline", "plan", "verify_all", "final"]
    assert BASELINE in step(answer, "plan").prompt
    verify_all = step(answer, "verify_all").prompt
    assert all(q in verify_all for q in VQ)
    assert BASELINE not in verify_all and "Hope this helps" not in verify_all
    assert answer.details["verification_answers"][2].startswith("No")


def test_factored_answers_each_question_alone_and_concurrently():
    llm = scripted()
    llm.delay_s = 0.2
    answer = get_method("cove_factored", concurrency=3)(LIST_Q, llm)
    assert step_names(answer) == ["baseline", "plan", "verify[0]", "verify[1]", "verify[2]", "final"]
    for i, question in enumerate(VQ):
        prompt = step(answer, f"verify[{i}]").prompt
        last_user = prompt.rsplit("Human: ", 1)[1]
        assert last_user.strip() == question  # only its own question: no baseline, no sibling questions
        assert BASELINE not in prompt and all(other not in prompt for other in VQ if other != question)
    assert llm.max_active > 1
    final = step(answer, "final").prompt
    assert BASELINE in final and "A: No, Gamma is far away." in final


def test_factored_concurrency_one_runs_serially():
    llm = scripted()
    llm.delay_s = 0.05
    get_method("cove_factored", concurrency=1)(LIST_Q, llm)
    assert llm.max_active == 1


def test_factor_revise_cross_checks_each_answer_against_the_baseline():
    # rule filter: Gamma's verification answer is not a clear "no" and the final model keeps Gamma: only the
    # cross-check (INCONSISTENT) removes it, because the rule drops entities that fail verification
    changes = {r"Keep only the items": "Alpha, Beta, Gamma", r"^Does Gamma": "Gamma is far away."}
    answer = get_method("cove_factor_revise", list_check="yes_no_filter")(LIST_Q, scripted(**changes))
    names = step_names(answer)
    assert names[:5] == ["baseline", "plan", "verify[0]", "verify[1]", "verify[2]"]
    assert names[5:] == ["cross_check[0]", "cross_check[1]", "cross_check[2]", "final"]
    for i, question in enumerate(VQ):
        prompt = step(answer, f"cross_check[{i}]").prompt.rsplit("Human: ", 1)[1]
        assert BASELINE in prompt and question in prompt and answer.details["verification_answers"][i] in prompt
        assert all(other not in prompt for other in VQ if other != question)
    assert [c["verdict"] for c in answer.details["cross_checks"]] == ["consistent", "consistent", "inconsistent"]
    assert "Check: INCONSISTENT" in step(answer, "final").prompt
    assert answer.text == "Alpha, Beta" and answer.details["dropped_items"] == ["Gamma"]
    # without the cross-check (factored) the same script keeps Gamma
    assert get_method("cove_factored_rulefilter")(LIST_Q, scripted(**changes)).text == BASELINE


def test_rule_filter_drops_entities_whose_yes_no_verification_says_no():
    answer = get_method("cove_factored_rulefilter")(LIST_Q, scripted(**{r"Keep only the items": "Alpha, Beta, Gamma"}))
    assert answer.details["verdicts"] == ["consistent", "consistent", "inconsistent"]
    assert answer.text == "Alpha, Beta"


def test_a_failed_check_drops_only_the_item_it_is_about():
    plan = "1. Does Alpha border Beta?\n2. Does Gamma border Alpha?"
    llm = scripted(**{r"verification question for each item": plan, r"Keep only the items": BASELINE})
    llm.rules[:0] = [(r"^Does Alpha border Beta", "No."), (r"^Does Gamma border Alpha", "Yes.")]
    answer = get_method("cove_factored_rulefilter")(LIST_Q, llm)
    assert answer.text == "Beta, Gamma" and answer.details["dropped_items"] == ["Alpha"]


def test_final_answer_echoing_the_prompt_is_cut():
    llm = ScriptedChatModel(rules=[
        (r"^Who founded Testland\?", "Zed."),
        (r"check the facts", "1. Who founded Testland?"),
        (r"^Who founded", "Ada."),
        (r"Write the corrected answer briefly", "Ada.\nQ: Who founded Testland?\nA: Zed."),
    ])
    answer = get_method("cove_factored")(SHORT_Q, llm)
    assert answer.text == "Ada." and step(answer, "final").output.startswith("Ada.\nQ:")


@pytest.mark.parametrize("variant", ["cove_joint", "cove_two_step", "cove_factored", "cove_factor_revise"])
@pytest.mark.parametrize(
    "plan_output, flag",
    [("The answer looks fine to me, nothing to add.", "plan_unparsable"), ("", "no_questions"), ("None.", "no_questions")],
)
def test_junk_plan_returns_the_baseline_with_a_flag(variant, plan_output, flag):
    llm = scripted(**{r"verification question for each item": plan_output, r"as lines 'Q: \.\.\.'": plan_output})
    answer = get_method(variant)(LIST_Q, llm)
    assert answer.text == BASELINE and flag in answer.flags
    assert step_names(answer) == ["baseline", "plan_and_verify" if variant == "cove_joint" else "plan"]
    if not plan_output:
        assert "empty_output" in answer.flags


def test_junk_final_answers_fall_back_to_the_baseline():
    rule_filter = get_method("cove_factored_rulefilter")
    answer = rule_filter(LIST_Q, scripted(**{r"Keep only the items": ""}))
    assert answer.text == "Alpha, Beta"  # the baseline minus Gamma, whose verification said no
    assert {"final_empty", "empty_output"} <= set(answer.flags)
    answer = rule_filter(LIST_Q, scripted(**{r"Keep only the items": "Sure! Here is my reply.", r"^Does Gamma": "Yes."}))
    assert answer.text == BASELINE and "final_unrelated" in answer.flags
    answer = rule_filter(LIST_Q, scripted(**{r"Keep only the items": "None"}))
    assert answer.text == "" and answer.details["dropped_items"] == ["Alpha", "Beta", "Gamma"]
    assert answer.details["final"] == ""


def test_short_question_flow_and_empty_baseline():
    llm = ScriptedChatModel(
        rules=[
            (r"^Who founded Testland\?", "Zed founded it in 1901."),
            (r"check the facts", "1. Who founded Testland?\n2. When was Testland founded?"),
            (r"^Who founded", "Ada."),
            (r"^When was", "1850."),
            (r"Write the corrected answer briefly", "Ada founded it in 1850."),
        ]
    )
    answer = get_method("cove_factored")(SHORT_Q, llm)
    assert answer.text == "Ada founded it in 1850." and answer.details["family"] == "short"
    assert all("Zed" not in step(answer, f"verify[{i}]").prompt for i in range(2))
    empty = get_method("cove_joint")(SHORT_Q, ScriptedChatModel(rules=[]))
    assert empty.text == "" and {"baseline_empty", "empty_output"} <= set(empty.flags)
    assert step_names(empty) == ["baseline"]


def test_max_verification_questions_cuts_the_plan():
    answer = get_method("cove_factored", max_verification_questions=2)(LIST_Q, scripted())
    assert answer.details["verification_questions"] == VQ[:2]
    assert "verify[2]" not in step_names(answer)


def test_rag_numbers_chunks_and_maps_citations():
    llm = ScriptedChatModel(rules=[(r"Question: Which countries border Testland", "Alpha [c1], Beta [c1]")])
    answer = get_method("rag")(LIST_Q, llm, retriever())
    assert step_names(answer) == ["retrieve", "answer"]
    prompt = step(answer, "answer").prompt
    assert "[c1] Testland borders Alpha and Beta." in prompt and "I don't know" in prompt
    assert answer.details["citations"] == ["tl#borders#0"] and answer.retrieved[0].doc_id == "tl"
    assert answer.flags == ()
    abstain = get_method("rag")(SHORT_Q, ScriptedChatModel(default="I don't know."), retriever())
    assert "abstained" in abstain.flags


def test_rag_cove_answers_verification_questions_from_retrieval():
    answer = get_method("rag_cove")(LIST_Q, scripted(), retriever())
    names = step_names(answer)
    assert names[:2] == ["baseline", "plan"] and names[-1] == "final"
    assert {"retrieve[0]", "retrieve[1]", "retrieve[2]", "verify[0]", "verify[1]", "verify[2]"} <= set(names)
    gamma = step(answer, "verify[2]").prompt
    assert "Gamma is an island far away from Testland." in gamma and BASELINE not in gamma
    assert "ga#location#0" in {c.id for c in answer.retrieved}


def test_rag_cove_with_rag_baseline():
    llm = scripted(**{r"^Which countries border Testland\?": "unused"})
    llm.rules.insert(0, (r"^Chunks:.*Question: Which countries border Testland", "Alpha [c1], Beta [c1], Gamma [c2]"))
    answer = get_method("rag_cove_rag_baseline")(LIST_Q, llm, retriever())
    assert step_names(answer)[:3] == ["baseline_retrieve", "baseline_answer", "plan"]
    assert answer.details["baseline_rag"]["citations"]
    assert "[c1]" not in step(answer, "plan").prompt.rsplit("Human: ", 1)[1]  # citations stripped before planning
    assert answer.text == "Alpha, Beta"
    abstain = get_method("rag_cove_rag_baseline")(SHORT_Q, ScriptedChatModel(default="I don't know."), retriever())
    assert step_names(abstain) == ["baseline_retrieve", "baseline_answer"] and "abstained" in abstain.flags


def test_methods_needing_retrieval_say_so():
    for name in ("rag", "rag_cove", "rag_cove_rag_baseline"):
        with pytest.raises(ValueError, match="needs a retriever"):
            get_method(name)(LIST_Q, scripted())


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="max_verification_questons.*Valid options"):
        get_method("cove_factored", max_verification_questons=3)
    with pytest.raises(ValueError, match="factored"):
        get_method("cove_joint", verify_with="retrieval")
    with pytest.raises(KeyError, match="Did you mean 'cove_joint'"):
        get_method("cove_jiont")


OPEN_VQ = ["Which countries border Alpha?", "Which countries border Beta?", "Which countries border Gamma?"]
OPEN_RULES = {
    r"verification question for each item": "\n".join(f"{i}. {q}" for i, q in enumerate(OPEN_VQ, start=1)),
    r"comma-separated list\.$": "Alpha, Beta, Delta",
}


def test_lists_default_to_open_questions_and_the_models_revised_list():
    llm = scripted(**OPEN_RULES)
    llm.rules[:0] = [(r"^Which countries border Alpha", "Testland."), (r"^Which countries border Beta", "Testland, Delta."),
                     (r"^Which countries border Gamma", "Epsilon.")]
    answer = get_method("cove_factored")(LIST_Q, llm)
    plan = step(answer, "plan").prompt.rsplit("Human: ", 1)[1]
    assert "open verification question" in plan and "yes/no" not in step(answer, "plan").prompt
    assert answer.details["verification_questions"] == OPEN_VQ and answer.details["list_check"] == "open"
    assert "Keep only" not in step(answer, "final").prompt and "A: Epsilon." in step(answer, "final").prompt
    # the final answer is the model's revision as extracted: Gamma dropped, Delta added (no rule filter)
    assert answer.text == "Alpha, Beta, Delta" and answer.flags == ()
    assert answer.details["dropped_items"] == ["Gamma"] and answer.details["added_items"] == ["Delta"]
    assert answer.details["prompt_version"] == "cove-v3+answer-v1"


def test_open_list_final_junk_falls_back_to_the_baseline():
    for final, flag in (("", "final_empty"), ("Sure! Here is my reply.", "final_unrelated"), ("...", "final_unparsable")):
        answer = get_method("cove_factored")(LIST_Q, scripted(**{**OPEN_RULES, r"comma-separated list\.$": final}))
        assert answer.text == BASELINE and flag in answer.flags, final
    none_left = get_method("cove_factored")(LIST_Q, scripted(**{**OPEN_RULES, r"comma-separated list\.$": "None."}))
    assert none_left.text == "" and none_left.details["dropped_items"] == ["Alpha", "Beta", "Gamma"]


def test_the_rule_filter_is_a_named_option_with_yes_no_prompts():
    answer = get_method("cove_factored_rulefilter")(LIST_Q, scripted())
    assert answer.method == "cove_factored_rulefilter" and answer.details["list_check"] == "yes_no_filter"
    assert "yes/no verification question" in step(answer, "plan").prompt
    assert "Keep only the items" in step(answer, "final").prompt
    assert get_method("cove_joint", list_check="yes_no_filter")(LIST_Q, scripted()).details["dropped_items"] == ["Gamma"]
