"""One MLflow trace per answer, shaped the way MLflow's trace UI reads it.

- Times: the root span is the answer's own wall time (``finished_at - latency_s`` .. ``finished_at``); steps are
  laid out from its start, each as long as it took, and a batch of parallel steps (``verify[1]``, ``verify[2]`` …)
  side by side. No span is ever clamped, so no span has a negative duration.
- Chat steps carry MLflow's standard token usage attribute (fills the Tokens column) and their prompt as chat
  messages (``mlflow.chat.messages`` + OpenAI-style inputs/outputs), so the UI shows a conversation.
- Retrieval steps are RETRIEVER spans whose output is every document the retriever returned (id, text, source,
  score, rank) with the ones the prompt showed marked ``shown_in_prompt``.
- The verdicts are assessments on the trace named so True reads as good (``supported``, ``correct``, the LLM
  judge's ``llm_judge_supported``) and tags (``verdict``, ``correct``), so a reviewer can filter traces by them.
"""

import re
from datetime import datetime

from toolkit.experiments.store import AnswerRecord
from toolkit.records import Answer, Step
from toolkit.tracking.params import scrub

MAX_TRACES_PER_ARM = 100
_ROLES = {"System": "system", "Human": "user", "AI": "assistant", "Tool": "tool", "Function": "function"}
_TURN = re.compile(r"^(System|Human|AI|Tool|Function): ", re.MULTILINE)
_HIT = re.compile(r"^(\S+) \(([-0-9.]+)\)$")


def chat_messages(prompt: str) -> list[dict]:
    """A step's prompt (langchain's ``get_buffer_string``: ``System: …\\nHuman: …``) back as chat messages."""
    starts = list(_TURN.finditer(prompt))
    if not starts:
        return [{"role": "user", "content": prompt}]
    messages = []
    if prompt[: starts[0].start()].strip():
        messages.append({"role": "user", "content": prompt[: starts[0].start()].strip()})
    for match, following in zip(starts, [*starts[1:], None], strict=True):
        end = following.start() if following else len(prompt)
        messages.append({"role": _ROLES[match.group(1)], "content": prompt[match.end() : end].rstrip("\n")})
    return messages


def _batch(name: str) -> str | None:
    """``verify[2]`` -> ``verify``: steps of one batch ran concurrently."""
    return name.split("[", 1)[0] if "[" in name else None


def layout(record: AnswerRecord) -> tuple[int, int, list[tuple[Step, int, int]]]:
    """(root start ns, root end ns, [(step, start ns, end ns)]): durations are the measured ones, never negative."""
    end_ns = int(datetime.fromisoformat(record.finished_at).timestamp() * 1e9)
    start_ns = end_ns - int(max(record.latency_s, 0.0) * 1e9)
    spans, cursor, batch, batch_start = [], start_ns, None, start_ns
    for step in record.answer.steps:
        group = _batch(step.name)
        if group is None or group != batch:
            batch_start = cursor
        batch = group
        begin = batch_start if group else cursor
        finish = begin + int(max(step.usage.latency_s, 0.0) * 1e9)
        spans.append((step, begin, finish))
        cursor = max(cursor, finish)
    return start_ns, max(end_ns, cursor), spans


NOT_KEPT = "(text not kept: retrieved but not shown in the prompt, by a TierLab version that kept only shown chunks)"


def _documents(step: Step, answer: Answer) -> list[dict]:
    """Every chunk a retrieval step returned, best first, as MLflow documents: id, text, source document, score,
    rank and whether the model's prompt showed it (``shown_in_prompt``; a method may show only the first few).

    Answers stored before steps kept their documents list only ``chunk-id (score)`` lines; their text is then taken
    from the answer's chunks, and a chunk the answer did not keep says so instead of showing an empty text."""
    shown = {c.id for c in answer.shown}
    hits = [(c.id, c.score) for c in step.documents] or [
        (hit.group(1), float(hit.group(2))) for line in step.output.splitlines() if (hit := _HIT.match(line.strip()))
    ]
    known = {c.id: c for c in (*answer.retrieved, *step.documents)}
    documents = []
    for rank, (chunk_id, score) in enumerate(hits, start=1):
        chunk = known.get(chunk_id)
        documents.append({
            "id": chunk_id,
            "page_content": chunk.text if chunk else NOT_KEPT,
            "metadata": {"doc_uri": chunk.doc_id if chunk and chunk.doc_id else chunk_id.split("::", 1)[0],
                         "chunk_id": chunk_id, "score": score, "rank": rank, "shown_in_prompt": chunk_id in shown},
        })
    return documents


def _step_span(step: Step, answer: Answer, secrets) -> dict:
    """start_span keyword arguments for one step (span type, inputs, attributes) and the outputs for end_span."""
    from mlflow.tracing.constant import SpanAttributeKey

    usage = step.usage
    attributes = {
        "tierlab.provider": step.provider,
        "tierlab.response_model": step.model,
        "tierlab.latency_s": usage.latency_s,
        "tierlab.cached": usage.cached_calls > 0,
        "tierlab.cost_usd": usage.cost_usd,
        "tierlab.shadow_cost_usd": usage.shadow_cost_usd,
    }
    if step.name.startswith("retrieve"):
        return {"span_type": "RETRIEVER", "inputs": {"query": scrub(step.prompt, secrets)}, "attributes": attributes,
                "outputs": _documents(step, answer)}
    messages = [{**m, "content": scrub(m["content"], secrets)} for m in chat_messages(step.prompt)]
    reply = {"role": "assistant", "content": scrub(step.output, secrets)}
    tokens = {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
              "total_tokens": usage.total_tokens}
    attributes |= {SpanAttributeKey.CHAT_USAGE: tokens, "mlflow.chat.messages": [*messages, reply]}
    outputs = {"choices": [{"index": 0, "message": reply, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens,
                         "total_tokens": usage.total_tokens}}
    return {"span_type": "CHAT_MODEL", "inputs": {"messages": messages}, "attributes": attributes, "outputs": outputs}


def verdict_tags(record: AnswerRecord, row: dict) -> dict[str, str]:
    """Trace tags a reviewer filters on: the judge's ``verdict`` (supported, hallucinated, abstained, unknown) and
    ``correct`` (``true``/``false``; absent when no accuracy applies)."""
    tags = {"verdict": record.verdict.label}
    if row.get("accuracy") is not None:
        tags["correct"] = str(row["accuracy"] >= 1.0).lower()
    return tags


def log_trace(client, experiment_id: str, run_id: str, record: AnswerRecord, row: dict, secrets) -> str:
    """Write one answer's trace (root span + a span per step); returns the trace id."""
    start_ns, end_ns, spans = layout(record)
    tags = {"arm": record.arm, "method": record.method, "provider": record.provider,
            "question_id": record.question.id, "kind": record.question.kind,
            "cached": str(record.answer.cached).lower(), **verdict_tags(record, row)}
    root = client.start_trace(
        name=f"{record.method} · {record.question.id}",
        span_type="CHAIN",
        inputs={"question": record.question.question},
        attributes={"tierlab.flags": list(record.answer.flags)},
        tags=tags,
        experiment_id=experiment_id,
        start_time_ns=start_ns,
        run_id=run_id,
    )
    for step, begin, finish in spans:
        kwargs = _step_span(step, record.answer, secrets)
        outputs = kwargs.pop("outputs")
        span = client.start_span(name=step.name, trace_id=root.trace_id, parent_id=root.span_id,
                                 start_time_ns=begin, **kwargs)
        client.end_span(root.trace_id, span.span_id, outputs=outputs, end_time_ns=finish)
    client.end_trace(root.trace_id, outputs={"answer": scrub(record.answer.text, secrets)}, end_time_ns=end_ns)
    return root.trace_id


def _judge_id(verdict) -> str:
    """``claims-v1``: the judge and its version, as the verdict records them."""
    version = getattr(verdict, "version", "")
    if not version:
        return verdict.judge
    return version if version.startswith(verdict.judge) else f"{verdict.judge}-{version}"


SUPPORTED = "supported"
"""Assessment names read as "True is good" in MLflow's UI (a green check, a rise drawn green): ``supported`` is
True unless the judge found a hallucination, ``correct`` True when the answer is right. Filter the hallucinated
answers of one arm in the Traces tab with ``feedback.supported = false`` and ``tags.arm = '…'``."""


def _supported(verdict, source) -> dict | None:
    """The ``log_feedback`` arguments of one judge's verdict (None when the judge could not decide)."""
    if verdict.unknown:
        return None
    reason = f"{verdict.label}: {verdict.reason}" if verdict.reason else verdict.label
    return {"value": not verdict.hallucinated, "rationale": reason, "source": source}


def log_assessments(trace_id: str, record: AnswerRecord, row: dict, llm_judge: str) -> None:
    """The judges' verdicts and the accuracy as MLflow feedback on the (already exported) trace."""
    import mlflow
    from mlflow.entities import AssessmentSource, AssessmentSourceType

    code = AssessmentSourceType.CODE
    feedback = {SUPPORTED: _supported(record.verdict, AssessmentSource(code, _judge_id(record.verdict)))}
    if row.get("accuracy") is not None:
        feedback["correct"] = {"value": row["accuracy"] >= 1.0,
                               "rationale": f"gold: {row['gold'] or '(none: should abstain)'}",
                               "source": AssessmentSource(code, "tierlab.metrics.accuracy")}
    if record.llm_verdict is not None:
        source = AssessmentSource(AssessmentSourceType.LLM_JUDGE,
                                  f"{llm_judge} ({_judge_id(record.llm_verdict)})")
        feedback[f"llm_judge_{SUPPORTED}"] = _supported(record.llm_verdict, source)
    for name, kwargs in feedback.items():
        if kwargs is not None:
            mlflow.log_feedback(trace_id=trace_id, name=name, **kwargs)
