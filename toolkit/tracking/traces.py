"""One MLflow trace per answer, shaped the way MLflow's trace UI reads it.

- Times: the root span is the answer's own wall time (``finished_at - latency_s`` .. ``finished_at``); steps are
  laid out from its start, each as long as it took, and a batch of parallel steps (``verify[1]``, ``verify[2]`` …)
  side by side. No span is ever clamped, so no span has a negative duration.
- Chat steps carry MLflow's standard token usage attribute (fills the Tokens column) and their prompt as chat
  messages (``mlflow.chat.messages`` + OpenAI-style inputs/outputs), so the UI shows a conversation.
- Retrieval steps are RETRIEVER spans whose output is the documents (id, score, text).
- The verdicts are assessments on the trace (``hallucinated``, ``correct``, the LLM judge's when there is one)
  and tags, so a reviewer can filter traces by them.
"""

import re
from datetime import datetime

from toolkit.experiments.store import AnswerRecord
from toolkit.records import RetrievedChunk, Step
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


def _documents(step: Step, retrieved: tuple[RetrievedChunk, ...]) -> list[dict]:
    """The chunks a retrieval step returned (its output lists ``chunk-id (score)`` lines), as MLflow documents."""
    by_id = {c.id: c for c in retrieved}
    documents = []
    for line in step.output.splitlines():
        hit = _HIT.match(line.strip())
        if not hit:
            continue
        chunk = by_id.get(hit.group(1))
        documents.append({
            "id": hit.group(1),
            "page_content": chunk.text if chunk else "",
            "metadata": {"doc_uri": chunk.doc_id if chunk else "", "chunk_id": hit.group(1),
                         "score": float(hit.group(2))},
        })
    return documents


def _step_span(step: Step, retrieved, secrets) -> dict:
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
                "outputs": _documents(step, retrieved)}
    messages = [{**m, "content": scrub(m["content"], secrets)} for m in chat_messages(step.prompt)]
    reply = {"role": "assistant", "content": scrub(step.output, secrets)}
    tokens = {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
              "total_tokens": usage.total_tokens}
    attributes |= {SpanAttributeKey.CHAT_USAGE: tokens, "mlflow.chat.messages": [*messages, reply]}
    outputs = {"choices": [{"index": 0, "message": reply, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens,
                         "total_tokens": usage.total_tokens}}
    return {"span_type": "CHAT_MODEL", "inputs": {"messages": messages}, "attributes": attributes, "outputs": outputs}


def verdict_tags(row: dict) -> dict[str, str]:
    """Trace tags from a per-question row: ``hallucinated``/``correct`` as ``true``/``false`` (absent when n/a)."""
    tags = {"hallucinated": str(bool(row["hallucination"])).lower()}
    if row.get("accuracy") is not None:
        tags["correct"] = str(row["accuracy"] >= 1.0).lower()
    return tags


def log_trace(client, experiment_id: str, run_id: str, record: AnswerRecord, row: dict, secrets) -> str:
    """Write one answer's trace (root span + a span per step); returns the trace id."""
    start_ns, end_ns, spans = layout(record)
    tags = {"arm": record.arm, "method": record.method, "provider": record.provider,
            "question_id": record.question.id, "kind": record.question.kind,
            "cached": str(record.answer.cached).lower(), **verdict_tags(row)}
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
        kwargs = _step_span(step, record.answer.retrieved, secrets)
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


def log_assessments(trace_id: str, record: AnswerRecord, row: dict, judge_provider: str) -> None:
    """The judges' verdicts and the accuracy as MLflow feedback on the (already exported) trace."""
    import mlflow
    from mlflow.entities import AssessmentSource, AssessmentSourceType

    code = AssessmentSourceType.CODE
    mlflow.log_feedback(
        trace_id=trace_id, name="hallucinated", value=bool(record.verdict.hallucinated),
        rationale=record.verdict.reason or None, source=AssessmentSource(code, _judge_id(record.verdict)),
    )
    if row.get("accuracy") is not None:
        mlflow.log_feedback(
            trace_id=trace_id, name="correct", value=row["accuracy"] >= 1.0,
            rationale=f"gold: {row['gold'] or '(none: should abstain)'}",
            source=AssessmentSource(code, "tierlab.metrics.accuracy"),
        )
    if record.llm_verdict is not None:
        mlflow.log_feedback(
            trace_id=trace_id, name="llm_judge_hallucinated", value=bool(record.llm_verdict.hallucinated),
            rationale=record.llm_verdict.reason or None,
            source=AssessmentSource(AssessmentSourceType.LLM_JUDGE, f"{judge_provider} ({_judge_id(record.llm_verdict)})"),
        )
