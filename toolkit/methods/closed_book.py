"""closed_book: the question alone, answered from the model's own knowledge (also CoVe's baseline)."""

from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever

from toolkit.methods.base import Method
from toolkit.methods.calls import chat
from toolkit.methods.prompts import Family, family, load_prompts
from toolkit.records import Answer, PublicQuestion, Step


def closed_book_answer(question: str, fam: Family, llm: BaseChatModel, step_name: str = "answer") -> tuple[str, Step]:
    """One call with the ``closed_book`` prompt; shared with CoVe (baseline, factored verification answers)."""
    messages = load_prompts("answer").get("closed_book").messages(fam, question=question)
    [(text, step)] = chat(llm, [(step_name, messages)])
    return text, step


class ClosedBook(Method):
    name: str = "closed_book"

    def answer(self, question: PublicQuestion, llm: BaseChatModel, retriever: BaseRetriever | None = None) -> Answer:
        fam = family(question)
        text, step = closed_book_answer(question.question, fam, llm)
        return Answer(
            text=text,
            method=self.name,
            steps=(step,),
            flags=() if text else ("empty_output",),
            details={"prompt_version": load_prompts("answer").version, "family": fam, "final": text},
        )


closed_book = ClosedBook()
