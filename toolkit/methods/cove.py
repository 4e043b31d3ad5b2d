"""Chain-of-Verification (Dhuliawala et al. 2023, arXiv:2309.11495), in the paper's four variants, plus RAG.

1. baseline answer (closed book, or RAG);
2. plan verification questions for it, and 3. answer them:
   - ``joint``: plan and answer in ONE prompt (answers can copy the baseline's mistakes);
   - ``two_step``: plan (sees the baseline), then answer ALL questions in a second prompt that sees only them;
   - ``factored``: answer each question in its own prompt (no baseline, no other questions), concurrently;
   - ``factor_revise``: factored, then one cross-check prompt per question comparing baseline and verification
     answer; an INCONSISTENT verdict is fed into the final prompt (and, for lists, drops the entity);
4. final verified answer from baseline + verification Q/A.

Lists (``list_check``): by default each item gets an OPEN verification question ("In which country is Lyon?"), as
the paper found open questions beat yes/no ones, and the final answer is the model's revised list (parsed by
``toolkit.extraction.list_items``). ``list_check="yes_no_filter"`` (registered as ``cove_factored_rulefilter``) keeps
the older variant: yes/no questions, and the final list is the baseline minus items whose check says no — a rule
filter, reported under its own name so that CoVe's numbers are CoVe's.

With ``verify_with="retrieval"`` each verification question is answered from its own retrieval (rag_cove, the
paper's future work); with ``baseline="rag"`` the baseline itself is RAG. Junk from the model (empty, no
questions, unparsable) is recorded as a flag and the baseline answer is returned: never an exception.
"""

import re
from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from pydantic import Field, model_validator

from toolkit.extraction import is_abstention, list_items, strip_citations
from toolkit.methods.base import Method
from toolkit.methods.calls import chat, retrieve
from toolkit.methods.closed_book import closed_book_answer
from toolkit.methods.fit import fit_chunks, fit_entries, prompt_budget
from toolkit.methods.parsing import (
    answer_verdict,
    cut_echo,
    mentions,
    parse_numbered_answers,
    parse_qa_pairs,
    parse_questions,
    parse_verdict,
)
from toolkit.methods.prompts import Family, family, load_prompts
from toolkit.methods.rag import rag_answer, rag_flags
from toolkit.records import Answer, PublicQuestion, RetrievedChunk, Step

_NONE_LEFT = re.compile(r"^\W*(?:none|no\s+(?:items?|names?|countries|entities)|nothing|n/?a)\b", re.IGNORECASE)
_NO_QUESTIONS = re.compile(r"^\W*(?:none|no(?:\s+verification)?\s+questions?|n/?a|nothing)\b", re.IGNORECASE)


def _subject(question: str, items: list[str]) -> str | None:
    """The list item a verification question is about: the one it names first ("Does A border B?" → A)."""
    positions = [(question.casefold().find(item.casefold()), item) for item in items if mentions(item, question)]
    return min(positions)[1] if positions else None


class CoVe(Method):
    variant: Literal["joint", "two_step", "factored", "factor_revise"] = Field(
        description="How verification questions are planned and answered (paper section 3.3)."
    )
    baseline: Literal["closed_book", "rag"] = Field(default="closed_book", description="How the baseline is answered.")
    verify_with: Literal["llm", "retrieval"] = Field(
        default="llm", description="Answer verification questions from the model alone or from retrieved chunks."
    )
    list_check: Literal["open", "yes_no_filter"] = Field(
        default="open",
        description="Lists: 'open' questions + the model's revised list (the paper), or 'yes_no_filter' questions + a "
        "rule that drops baseline items whose check says no.",
    )
    max_verification_questions: int = Field(default=5, ge=1, le=20, description="Plans are cut to this many.")
    concurrency: int = Field(default=4, ge=1, description="Parallel verification calls (threads).")
    max_chunks: int = Field(default=3, ge=1, description="Chunks shown for a RAG baseline.")
    verify_chunks: int = Field(default=2, ge=1, description="Chunks shown per verification question (retrieval).")
    max_chunk_chars: int = Field(default=800, ge=50, description="Each chunk is cut to this many characters.")

    @model_validator(mode="after")
    def _retrieval_needs_factoring(self) -> "CoVe":
        if self.verify_with == "retrieval" and self.variant not in ("factored", "factor_revise"):
            raise ValueError(
                f"verify_with='retrieval' answers each verification question from its own retrieval, which needs "
                f"variant 'factored' or 'factor_revise', not {self.variant!r}"
            )
        return self

    @property
    def needs_retriever(self) -> bool:
        return self.baseline == "rag" or self.verify_with == "retrieval"

    @property
    def expected_calls(self) -> int:
        """baseline + plan/verify + final: joint 1 call, two_step 2, factored 1 + n, factor_revise 1 + 2n."""
        n = self.max_verification_questions
        return 2 + {"joint": 1, "two_step": 2, "factored": 1 + n, "factor_revise": 1 + 2 * n}[self.variant]

    def answer(self, question: PublicQuestion, llm: BaseChatModel, retriever: BaseRetriever | None = None) -> Answer:
        if self.needs_retriever:
            retriever = self.require_retriever(retriever)
        run = _Run(self, question, llm, retriever)
        return run.answer()


class _Run:
    """The state of one CoVe answer while it is built: steps, flags, details. Lives for one call only."""

    def __init__(self, cfg: CoVe, question: PublicQuestion, llm: BaseChatModel, retriever: BaseRetriever | None):
        self.cfg, self.question, self.llm, self.retriever = cfg, question, llm, retriever
        self.fam: Family = family(question)
        self.prompts = load_prompts("cove")
        self.rule_filter = self.fam == "list" and cfg.list_check == "yes_no_filter"
        self.budget = prompt_budget(llm)  # prompts are fitted to the served model's context window
        self.steps: list[Step] = []
        self.flags: list[str] = []
        self.retrieved: list[RetrievedChunk] = []
        self.details: dict = {
            "prompt_version": f"{self.prompts.version}+{load_prompts('answer').version}",
            "family": self.fam,
            "variant": cfg.variant,
            "baseline_source": cfg.baseline,
            "verify_with": cfg.verify_with,
            "list_check": cfg.list_check if self.fam == "list" else None,
            "baseline": "",
            "verification_questions": [],
            "verification_answers": [],
            "cross_checks": [],
            "final": "",
        }

    # -- plumbing -------------------------------------------------------------------------------------------
    def _chat(self, prompts: list[tuple[str, list]]) -> list[str]:
        results = chat(self.llm, prompts, self.cfg.concurrency)
        self.steps += [step for _, step in results]
        empty = [step.name for text, step in results if not text]
        if empty:
            self._flag("empty_output")
            self.details.setdefault("empty_steps", []).extend(empty)
        return [text for text, _ in results]

    def _prompt(self, name: str):
        """The named prompt; for the yes/no rule filter on lists, its ``*_yes_no`` version where there is one."""
        if self.rule_filter and f"{name}_yes_no" in self.prompts.prompts:
            name = f"{name}_yes_no"
        return self.prompts.get(name)

    def _flag(self, flag: str) -> None:
        if flag not in self.flags:
            self.flags.append(flag)

    def _finish(self, text: str) -> Answer:
        self.details["final"] = text
        unique = {chunk.id: chunk for chunk in self.retrieved}
        return Answer(
            text=text,
            method=self.cfg.name,
            steps=tuple(self.steps),
            retrieved=tuple(unique.values()),
            flags=tuple(self.flags),
            details=self.details,
        )

    # -- the four CoVe steps ---------------------------------------------------------------------------------
    def answer(self) -> Answer:
        baseline = self._baseline()
        if not baseline:
            self._flag("empty_output")
            self._flag("baseline_empty")
            return self._finish(baseline)
        if self.cfg.baseline == "rag" and is_abstention(baseline):
            return self._finish(baseline)  # nothing claimed, nothing to verify
        questions, answers = self._plan_and_verify(strip_citations(baseline))
        if not questions:
            return self._finish(baseline)
        verdicts = self._cross_check(strip_citations(baseline), questions, answers)
        return self._finish(self._final(baseline, questions, answers, verdicts))

    def _baseline(self) -> str:
        q = self.question.question
        if self.cfg.baseline == "rag":
            text, steps, chunks, info = rag_answer(
                q, self.fam, self.llm, self.retriever, self.cfg.max_chunks, self.cfg.max_chunk_chars
            )
            self.steps += [step.model_copy(update={"name": f"baseline_{step.name}"}) for step in steps]
            self.retrieved += chunks[: info["chunks_shown"]]  # judged against what the prompt showed
            self.details["baseline_rag"] = info
            for flag in rag_flags(text, chunks, info["citations"]) + (("prompt_trimmed",) if "prompt_fit" in info else ()):
                self._flag(flag)
        else:
            text, step = closed_book_answer(q, self.fam, self.llm, step_name="baseline")
            self.steps.append(step)
        self.details["baseline"] = text
        return text

    def _plan_and_verify(self, baseline: str) -> tuple[list[str], list[str]]:
        cfg, q, limit = self.cfg, self.question.question, self.cfg.max_verification_questions
        if cfg.variant == "joint":
            [out] = self._chat([("plan_and_verify", self._prompt("joint").messages(self.fam, question=q, baseline=baseline))])
            pairs = parse_qa_pairs(out)[:limit]
            questions, answers = [p[0] for p in pairs], [p[1] for p in pairs]
        else:
            [out] = self._chat([("plan", self._prompt("plan").messages(self.fam, question=q, baseline=baseline))])
            questions = parse_questions(out, limit)
            answers = self._execute(questions) if questions else []
        if not questions:
            self._flag("no_questions" if not out.strip() or _NO_QUESTIONS.match(out) else "plan_unparsable")
            return [], []
        if any(not a for a in answers):
            self._flag("verification_unanswered")
        self.details["verification_questions"] = questions
        self.details["verification_answers"] = answers
        return questions, answers

    def _execute(self, questions: list[str]) -> list[str]:
        """Answer verification questions without showing the baseline (two_step, factored, factor_revise)."""
        if self.cfg.variant == "two_step":
            numbered = "\n".join(f"{i}. {vq}" for i, vq in enumerate(questions, start=1))
            [out] = self._chat([("verify_all", self.prompts.get("answer_all").messages(self.fam, questions=numbered))])
            return parse_numbered_answers(out, len(questions))
        if self.cfg.verify_with == "retrieval":
            return self._verify_with_retrieval(questions)
        answer_prompt = load_prompts("answer").get("closed_book")
        return self._chat([(f"verify[{i}]", answer_prompt.messages("short", question=vq)) for i, vq in enumerate(questions)])

    def _verify_with_retrieval(self, questions: list[str]) -> list[str]:
        found = retrieve(self.retriever, [(f"retrieve[{i}]", vq) for i, vq in enumerate(questions)])
        rag_prompt = load_prompts("answer").get("rag")
        prompts = []
        for i, (vq, (chunks, step)) in enumerate(zip(questions, found, strict=True)):
            self.steps.append(step)
            messages, _, shown, fitted = fit_chunks(
                self.budget, lambda numbered, vq=vq: rag_prompt.messages("short", question=vq, chunks=numbered),
                chunks[: self.cfg.verify_chunks], self.cfg.max_chunk_chars)
            self.retrieved += chunks[:shown]
            self._fitted(f"verify[{i}]", fitted)
            prompts.append((f"verify[{i}]", messages))
        return self._chat(prompts)

    def _fitted(self, step: str, fitted: dict | None) -> None:
        """Record a prompt cut to fit the context window (``details["prompt_fit"]``, one entry per step)."""
        if fitted:
            self.details.setdefault("prompt_fit", {})[step] = fitted
            self._flag("prompt_trimmed")

    def _cross_check(self, baseline: str, questions: list[str], answers: list[str]) -> list[str]:
        """factor_revise only: one prompt per question seeing the baseline fact and the verification answer."""
        if self.cfg.variant != "factor_revise":
            return []
        prompt = self.prompts.get("cross_check")
        outputs = self._chat([
            (f"cross_check[{i}]", prompt.messages(self.fam, baseline=baseline, verification_question=vq,
                                                  verification_answer=va or "(no answer)"))
            for i, (vq, va) in enumerate(zip(questions, answers, strict=True))
        ])
        verdicts = [parse_verdict(out) for out in outputs]
        if "unknown" in verdicts:
            self._flag("cross_check_unparsable")
        self.details["cross_checks"] = [
            {"question": vq, "answer": va, "verdict": verdict, "output": out}
            for vq, va, verdict, out in zip(questions, answers, verdicts, outputs, strict=True)
        ]
        return verdicts

    def _final(self, baseline: str, questions: list[str], answers: list[str], verdicts: list[str]) -> str:
        entries = []
        for i, (vq, va) in enumerate(zip(questions, answers, strict=True)):
            check = f"\nCheck: {verdicts[i].upper()}" if verdicts else ""
            entries.append(f"Q: {vq}\nA: {va or '(no answer)'}{check}")
        final = self._prompt("final")
        prompt, _, fitted = fit_entries(self.budget, lambda shown: final.messages(
            self.fam, question=self.question.question, baseline=strip_citations(baseline),
            verifications="\n".join(shown)), entries)
        self._fitted("final", fitted)
        [out] = self._chat([("final", prompt)])
        out = cut_echo(out)
        if self.fam == "list" and not self.rule_filter:
            return self._revised_list(baseline, out)
        if self.fam == "list":
            # an entity fails when its cross-check (factor_revise) or its yes/no verification answer says no
            # (an unparsable cross-check falls back to the answer's own yes/no)
            checks = [
                verdicts[i] if verdicts and verdicts[i] != "unknown" else answer_verdict(va)
                for i, va in enumerate(answers)
            ]
            self.details["verdicts"] = checks
            return self._final_list(baseline, out, questions, checks)
        if not out:
            self._flag("final_empty")
            return baseline
        return out

    def _revised_list(self, baseline: str, out: str) -> str:
        """CoVe's final answer on lists: the model's revised list, as extracted (it may drop or add items).

        An empty or unparsable final falls back to the baseline with a flag; "None" (every item failed) is ``""``.
        """
        items = list_items(baseline)
        self.details.update(baseline_items=items, final_output=out)
        revised = list_items(out)
        if not out:
            self._flag("final_empty")
            return baseline
        if not revised and not _NONE_LEFT.match(out):
            self._flag("final_unparsable")
            return baseline
        seen = "\n".join([baseline, *self.details["verification_answers"]])
        if revised and not any(mentions(item, seen) for item in revised):
            self._flag("final_unrelated")  # chatter parsed as items: nothing it names was ever in play
            return baseline
        kept = {item.casefold() for item in revised}
        self.details["dropped_items"] = [item for item in items if item.casefold() not in kept]
        self.details["added_items"] = [item for item in revised if item.casefold() not in {i.casefold() for i in items}]
        return ", ".join(revised)

    def _final_list(self, baseline: str, out: str, questions: list[str], verdicts: list[str]) -> str:
        """Rule filter (``list_check="yes_no_filter"``): baseline entities the final answer keeps, minus those whose
        yes/no verification failed.

        CoVe on lists only removes entities (precision); the final prompt may not add new ones. Junk finals fall
        back to the baseline minus failed entities.
        """
        items = list_items(baseline)
        if not items:
            self._flag("baseline_unparsable")
            return out or baseline
        failed = {_subject(vq, items) for vq, v in zip(questions, verdicts, strict=False) if v == "inconsistent"}
        kept_by_final = [item for item in items if mentions(item, out)]
        if not out:
            self._flag("final_empty")
            kept_by_final = items
        elif not kept_by_final and not _NONE_LEFT.match(out):
            self._flag("final_unrelated")
            kept_by_final = items
        kept = [item for item in kept_by_final if item not in failed]
        self.details["baseline_items"] = items
        self.details["dropped_items"] = [item for item in items if item not in kept]
        self.details["final_output"] = out
        return ", ".join(kept)


cove_joint = CoVe(name="cove_joint", variant="joint")
cove_two_step = CoVe(name="cove_two_step", variant="two_step")
cove_factored = CoVe(name="cove_factored", variant="factored")
cove_factor_revise = CoVe(name="cove_factor_revise", variant="factor_revise")
cove_factored_rulefilter = CoVe(name="cove_factored_rulefilter", variant="factored", list_check="yes_no_filter")
rag_cove = CoVe(name="rag_cove", variant="factored", verify_with="retrieval")
rag_cove_rag_baseline = CoVe(name="rag_cove_rag_baseline", variant="factored", baseline="rag", verify_with="retrieval")
