"""Answering methods: ``method(question, llm, retriever=None) -> Answer``.

Registered (lazily, so choosing one is what imports it):

- ``closed_book``: the question alone.
- ``rag``: answer only from retrieved chunks, cite them as [c1], say "I don't know" otherwise.
- ``cove_joint``, ``cove_two_step``, ``cove_factored``, ``cove_factor_revise``: Chain-of-Verification
  (arXiv:2309.11495) in the paper's four variants, closed-book baseline; on lists, open verification questions and
  the model's revised list.
- ``cove_factored_rulefilter``: factored, but on lists yes/no verification questions and a rule that drops the
  baseline items whose check says no (not the paper's CoVe; reported under its own name).
- ``rag_cove``: closed-book baseline, factored verification questions answered from retrieval.
- ``rag_cove_rag_baseline``: the same with a RAG baseline.

Adding a method = one module defining a ``Method`` instance + one ``METHODS.register`` line below.
"""

from pydantic import ValidationError

from toolkit.registry import Registry

METHODS = Registry("method")
METHODS.register("closed_book", "toolkit.methods.closed_book:closed_book")
METHODS.register("rag", "toolkit.methods.rag:rag")
METHODS.register("cove_joint", "toolkit.methods.cove:cove_joint")
METHODS.register("cove_two_step", "toolkit.methods.cove:cove_two_step")
METHODS.register("cove_factored", "toolkit.methods.cove:cove_factored")
METHODS.register("cove_factor_revise", "toolkit.methods.cove:cove_factor_revise")
METHODS.register("cove_factored_rulefilter", "toolkit.methods.cove:cove_factored_rulefilter")
METHODS.register("rag_cove", "toolkit.methods.cove:rag_cove")
METHODS.register("rag_cove_rag_baseline", "toolkit.methods.cove:rag_cove_rag_baseline")


def get_method(name: str, **options):
    """The registered method ``name``, configured with ``options`` (e.g. ``max_verification_questions=3``).

    Unknown names get a "did you mean"; unknown or invalid options name the option and list the valid ones.
    """
    method = METHODS.get(name)
    if not options:
        return method
    try:
        return type(method).model_validate({**method.model_dump(), **options})
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in error.errors())
        valid = ", ".join(field for field in type(method).model_fields if field != "name")
        raise ValueError(f"bad options for method {name!r}: {problems}. Valid options: {valid}.") from None


def uses_retriever(name: str) -> bool:
    """Whether method ``name`` needs a retriever (so a runner can build one only when needed)."""
    return METHODS.get(name).needs_retriever
