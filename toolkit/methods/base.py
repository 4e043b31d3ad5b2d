"""What every answering method is: a small frozen, validated config that is called like a function.

``method(question, llm, retriever=None) -> Answer``. Options are fields (validated once, at construction), so
``get_method(name, **options)`` can reject a typo with a clear message and a run can log the exact settings.
A method implements ``answer(question: PublicQuestion, ...)``: calling it with a full ``Question`` hands over only
``question.public()``, so a method cannot read gold answers, tolerances, gold documents or gold context.
"""

from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from pydantic import BaseModel, ConfigDict, Field

from toolkit.records import Answer, PublicQuestion, Question


class Method(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="The registered name; recorded as Answer.method.")

    @property
    def needs_retriever(self) -> bool:
        """Whether calling the method requires a retriever (a runner builds one only when needed)."""
        return False

    @property
    def expected_calls(self) -> int:
        """Model calls one question costs at most (budgets and quota pre-flight use it)."""
        return 1

    def __call__(
        self, question: Question | PublicQuestion, llm: BaseChatModel, retriever: BaseRetriever | None = None
    ) -> Answer:
        public = question.public() if isinstance(question, Question) else question
        return self.answer(public, llm, retriever)

    def answer(self, question: PublicQuestion, llm: BaseChatModel, retriever: BaseRetriever | None = None) -> Answer:
        """Answer from the question's public part only (implemented by each method)."""
        raise NotImplementedError

    def require_retriever(self, retriever: BaseRetriever | None) -> BaseRetriever:
        if retriever is None:
            raise ValueError(
                f"method {self.name!r} needs a retriever: pass retriever=... (a langchain-core BaseRetriever, "
                "e.g. from toolkit.retrieval.get_retriever), or choose 'closed_book' or a 'cove_*' method."
            )
        return retriever
