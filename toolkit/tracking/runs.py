"""Logging one experiment: a parent run for the experiment and one child run per arm.

Runs are created and written through an explicit ``MlflowClient`` with run ids passed around (never a hidden
global active run, so threads and notebooks cannot cross-log). Run times are the experiment's (first answer
started .. last answer finished), not the time spent logging.
"""

import json
import warnings
from datetime import datetime

from toolkit.experiments.headline import headline
from toolkit.experiments.report import paired_test_lines
from toolkit.experiments.results import ExperimentResult, question_row
from toolkit.experiments.spec import MethodSpec, ProviderSpec, arm_label
from toolkit.judges.card import is_real_answer_card
from toolkit.tracking import human, provenance, tables
from toolkit.tracking import metrics as names
from toolkit.tracking.client import client_for, create_experiment, log_metrics, log_params
from toolkit.tracking.params import scrub, secret_values
from toolkit.tracking.traces import MAX_TRACES_PER_ARM, log_assessments, log_trace

DIGEST_TAG = "tierlab.digest"
NOTE = "mlflow.note.content"


def _catalog():
    from toolkit.providers import load_catalog

    return load_catalog()


def arm_run_name(provider: ProviderSpec, method: MethodSpec, providers=()) -> str:
    """``rag · groq~emu``: the arm's short label (``toolkit.experiments.spec.arm_label``)."""
    return arm_label(provider, method, providers)


def parent_run_name(spec, run_key: str) -> str:
    """``quickstart · 72282b977551``: the experiment and its run key's hash, so parents differ at a glance."""
    return f"{spec.name} · {run_key.rsplit('-', 1)[-1]}"


def _window_ms(records) -> tuple[int | None, int | None]:
    """(first answer's start, last answer's end) in epoch ms; (None, None) without answers."""
    if not records:
        return None, None
    ends = [datetime.fromisoformat(r.finished_at).timestamp() for r in records]
    starts = [end - max(r.latency_s, 0.0) for end, r in zip(ends, records, strict=True)]
    return int(min(starts) * 1000), int(max(ends) * 1000)


def _prompt_versions(records) -> list[str]:
    return sorted({str(v) for r in records if (v := r.answer.details.get("prompt_version"))})


def _judge(result: ExperimentResult) -> dict:
    """Which judges produced the verdicts (name and version, as the verdicts record them) and the primary judge's
    meta-evaluation figures from its judge card (accuracy against human labels on the shipped labelled set)."""
    from toolkit.judges import judge_card

    spec = result.spec
    rules = sorted({(r.verdict.judge, r.verdict.version) for r in result.records})
    llm = sorted({(r.llm_verdict.judge, r.llm_verdict.version) for r in result.records if r.llm_verdict})
    params = {
        "judge.name": [name for name, _ in rules], "judge.version": [version for _, version in rules],
        "judge.spec": [j.name for j in spec.judges],
        "judge.sample": {j.name: j.sample for j in spec.judges if j.sample} or None,
        "judge.options": {j.name: j.options for j in spec.judges if j.options} or None,
    }
    cards = {"judge": judge_card(spec.judges[0].name)} if len(rules) == 1 else {}
    if llm:
        params |= {"llm_judge.name": [n for n, _ in llm], "llm_judge.version": [v for _, v in llm]}
        cards["llm_judge"] = judge_card(spec.llm_judge.name) if spec.llm_judge else {}  # its model's figures
    metrics = {}
    for prefix, card in cards.items():
        if not is_real_answer_card(card):
            continue  # a card measured on templated answers is no figure to show a reviewer
        params |= {f"{prefix}.card_version": card.get("version", ""), f"{prefix}.card_split": card.get("split", ""),
                   f"{prefix}.measured": card.get("measured", False)}
        metrics |= {f"{prefix}/{k}": float(v) for k, v in (card.get("figures") or {}).items()
                    if isinstance(v, int | float) and not isinstance(v, bool)}
    return {"params": params, "metrics": metrics}


def _scorer(card: dict | None = None) -> dict:
    """The accuracy scorer's card: its agreement with readers on the real-answer test split, per question kind
    (``scorer/agreement_<kind>`` metrics, their intervals as ``ci/`` params)."""
    from toolkit.metrics.card import scorer_card
    from toolkit.metrics.stats import Interval

    card = card or scorer_card()
    params = {"scorer.card_version": card["version"], "scorer.card_split": card["split"],
              "scorer.measured": card["measured"], "scorer.card_current": card["current"]}
    metrics = {}
    for kind, f in card["kinds"].items():
        metrics[f"scorer/agreement_{kind}"] = float(f["agreement"])
        interval = Interval(value=f["agreement"], low=f["low"], high=f["high"], n=f["n"], method="wilson")
        params[f"ci/scorer/agreement_{kind}"] = names.interval_text(interval)
    return {"params": params, "metrics": metrics}


def _describe_parent(result: ExperimentResult, names: dict[str, str]) -> str:
    spec = result.spec
    lines = [spec.description.strip() or f"TierLab experiment `{spec.name}`.", "",
             f"Dataset `{spec.dataset}` split `{spec.split}`, {len({r.question.id for r in result.records})} questions "
             f"(sample {spec.sample_size or 'all'}, seed {spec.seed}); {len(result.arms)} arms (child runs)."]
    if result.skipped:
        lines.append("Skipped providers: " + "; ".join(f"{k} ({v})" for k, v in result.skipped.items()) + ".")
    stopped = [f"{names[a.arm]} ({a.stopped})" for a in result.arms if a.stopped]
    if stopped:
        lines.append("Stopped early: " + "; ".join(stopped) + ".")
    if result.failed_arms:
        lines.append("Every question failed in: " + "; ".join(names.get(a, a) for a in result.failed_arms) + ".")
    if result.retrieval is not None:
        lines.append(f"RAG arms searched: {result.retrieval.label}; retrieval/ metrics hold recall@k, MRR, the "
                     "gold-chunk share and the unanswerable looked-relevant rate (per question kind under "
                     "retrieval/<metric>/<kind>).")
    if found := headline(result):
        lines += ["", "Headline comparison: " + " ".join(found.sentences())]
    lines += ["", *paired_test_lines(result, names), "",
              "Compare arms: Chart view, one section per group (quality/, hallucination/, retrieval/, cost/ in $ per "
              "1,000 questions, latency/, usage/); sort by cost/total_usd_per_1k_questions; intervals are the ci/ "
              "params; every paired test with its n is the paired_tests.json table."]
    return "\n".join(lines)


def _arm_status(arm, result: ExperimentResult) -> str:
    """FAILED when every question the arm attempted failed, KILLED when it stopped early (cancelled, budget,
    quota), else FINISHED: what MLflow's runs table shows as the run's state."""
    if arm.arm in result.failed_arms or (not arm.stopped and arm.planned and not arm.answered):
        return "FAILED"
    return "KILLED" if arm.stopped else "FINISHED"


def _status(result: ExperimentResult) -> str:
    """The parent's state: KILLED when the run was cancelled, FAILED when every arm failed, else FINISHED."""
    if any(a.stopped == "cancelled" for a in result.arms):
        return "KILLED"
    if result.arms and all(_arm_status(a, result) == "FAILED" for a in result.arms):
        return "FAILED"
    return "FINISHED"


def log_experiment(result: ExperimentResult, *, tracking_uri: str | None = None, traces: bool = True) -> str:
    """Log ``result`` (parent run + one child run per arm); returns the parent run id.

    If the same content was logged before (same spec and answers) and that logging finished, the existing parent
    run id is returned. A parent left RUNNING by a crash while logging is deleted with its arm runs and traces, and
    logged again in full; a parent deleted in MLflow is not found, so it is logged afresh.
    """
    client = client_for(tracking_uri)
    spec = result.spec
    secrets = secret_values(names=[p.key_env for p in _catalog().providers.values() if p.key_env])
    experiment_id = _experiment_id(client, spec.name)
    if spec.description:
        client.set_experiment_tag(experiment_id, NOTE, scrub(spec.description, secrets))
    digest = result.digest()
    for run in client.search_runs([experiment_id], filter_string=f"tags.`{DIGEST_TAG}` = '{digest}'"):
        if run.info.status != "RUNNING":
            return run.info.run_id
        _delete_half_logged(client, experiment_id, run.info.run_id)

    start_ms, end_ms = _window_ms(result.records)
    context = provenance.context_tags({})
    providers = {p.name: p for p in spec.providers}
    methods = {m.arm_name: m for m in spec.methods}
    run_names = result.arm_labels()
    significance, significant_tags, arm_significance = names.significance(
        result.comparisons, 1 - spec.confidence, run_names)
    parent = client.create_run(
        experiment_id,
        run_name=parent_run_name(spec, result.run_key),
        start_time=start_ms,
        tags={
            **context, DIGEST_TAG: digest, "tierlab.run_key": result.run_key, "tierlab.kind": "experiment",
            NOTE: scrub(_describe_parent(result, run_names), secrets), **significant_tags, **_scope_tags(result),
            **({"tierlab.skipped": json.dumps(result.skipped, sort_keys=True)} if result.skipped else {}),
        },
    )
    parent_id = parent.info.run_id
    judge, scorer = _judge(result), _scorer()
    questions = tables.questions_frame(result)
    log_params(client, parent_id, {
        **provenance.dataset_params(spec),
        "sample_size": spec.sample_size, "seed": spec.seed, "kinds": spec.kinds,
        "providers": [p.id for p in spec.providers], "methods": [m.arm_name for m in spec.methods],
        "metrics": spec.metrics, "retriever": spec.retriever, "spec_hash": spec.spec_hash(),
        "catalog_version": _catalog().version, "prompt_versions": _prompt_versions(result.records),
        "confidence": spec.confidence, "skipped_providers": result.skipped, **judge["params"],
        **scorer["params"],
        **(result.retrieval.params() if result.retrieval else {}),
    }, secrets)
    client.log_inputs(parent_id, datasets=[provenance.dataset_input(spec, tables.dataset_frame(result))])
    log_metrics(client, parent_id, {
        "usage/arms": len(result.arms), "usage/answers": len(result.records),
        "usage/network_calls": result.network_calls, "usage/errors": len(result.errors), **judge["metrics"],
        **significance, **_headline_metrics(result),
        **scorer["metrics"],
    })
    tables.log_parent_artifacts(client, parent_id, result, questions, secrets)

    arm_traces = []
    for arm in result.arms:
        provider, method = providers[arm.provider], methods[arm.method]
        records = [r for r in result.records if r.arm == arm.arm]
        endpoint = provenance.endpoint(provider)
        served = sorted({s.model for r in records for s in r.answer.steps if s.model})
        if served and not provider.emulate:  # what the answers said (an emulator names the model it emulates)
            endpoint["endpoint.response_models"] = served
        model = provenance.answering_model(provider, endpoint, served)
        answered_by = provenance.answered_by(provider, endpoint, model)
        arm_start, arm_end = _window_ms(records)
        note = f"**{method.arm_name}** on **{provider.name}**. Text written by {answered_by}."
        retrieves = method.retrieves and result.retrieval is not None
        if retrieves:
            note += f" Retrieval: {result.retrieval.label}."
        if arm.stopped:
            note += f" Stopped early: {arm.stopped}."
        child = client.create_run(
            experiment_id,
            run_name=run_names[arm.arm],
            start_time=arm_start,
            tags={
                "mlflow.parentRunId": parent_id, "tierlab.kind": "arm", "tierlab.arm": arm.arm,
                "tierlab.run_key": result.run_key, "tierlab.method": method.arm_name,
                "tierlab.provider": provider.name, "tierlab.emulated": str(provider.emulate).lower(),
                "tierlab.answered_by": scrub(answered_by, secrets), NOTE: scrub(note, secrets),
                **arm_significance.get(arm.arm, {}),
                **(_scope_tags(result) if retrieves else {}),
                **context,
            },
        )
        child_id = child.info.run_id
        log_params(client, child_id, {
            "provider": provider.id, "provider_label": provider.name, "emulated": provider.emulate,
            "method": method.name, "method_label": method.arm_name, "method_options": method.options,
            **{f"generation.{k}": v for k, v in provider.params.items()},
            **endpoint, "answered_by": model, "prompt_versions": _prompt_versions(records),
            "stopped": arm.stopped or "", **names.arm_params(arm),
            **(result.retrieval.params() if retrieves else {}),
        }, secrets)
        log_metrics(client, child_id, names.arm_metrics(arm))
        if records:
            client.log_inputs(child_id, datasets=[provenance.dataset_input(spec, tables.dataset_frame(result))])
            rows = [question_row(r, spec.metrics) for r in records]
            tables.log_arm_table(client, child_id, rows, secrets)
            if traces:
                for record, row in list(zip(records, rows, strict=True))[:MAX_TRACES_PER_ARM]:
                    trace_id = log_trace(client, experiment_id, child_id, record, row, secrets)
                    arm_traces.append((trace_id, record, row))
        client.set_terminated(child_id, _arm_status(arm, result), end_time=arm_end)
    if arm_traces:
        import mlflow

        mlflow.flush_trace_async_logging()
        for trace_id, record, row in arm_traces:
            log_assessments(trace_id, record, row, spec.llm_judge.name if spec.llm_judge else "")
    human.log_review(result, parent_id, tracking_uri=client.tracking_uri)
    _supersede_earlier(client, experiment_id, result.run_key, parent_id)
    # Last: a parent still RUNNING is one whose logging was cut short (a crash); the next run repairs it.
    client.set_terminated(parent_id, _status(result), end_time=end_ms)
    return parent_id


def logged_run(run_id: str, tracking_uri: str | None) -> bool:
    """Whether MLflow holds ``run_id``, not deleted, with its logging finished (not left RUNNING by a crash)."""
    from mlflow.exceptions import MlflowException

    try:
        run = client_for(tracking_uri).get_run(run_id)
    except MlflowException:
        return False
    return run.info.lifecycle_stage == "active" and run.info.status != "RUNNING"


def _experiment_id(client, name: str) -> str:
    """The experiment named ``name``, created if needed; restored if it was deleted (MLflow keeps a deleted
    experiment's name, so no new one can take it)."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return create_experiment(client, name)
    if experiment.lifecycle_stage == "deleted":
        warnings.warn(f"MLflow experiment {name!r} was deleted; restoring it to log this run.", stacklevel=3)
        client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id


def _delete_half_logged(client, experiment_id: str, parent_id: str) -> None:
    """Delete a parent whose logging a crash cut short, with its arm runs and their traces (logged again next)."""
    warnings.warn(f"MLflow run {parent_id} was left half-logged (RUNNING) by an earlier crash; logging it again.",
                  stacklevel=3)
    children = client.search_runs([experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}'")
    for run_id in [c.info.run_id for c in children] + [parent_id]:
        traces = client.search_traces(locations=[experiment_id], run_id=run_id, max_results=MAX_TRACES_PER_ARM)
        if traces:
            client.delete_traces(experiment_id, trace_ids=[t.info.trace_id for t in traces])
        client.delete_run(run_id)


SUPERSEDED_TAG = "tierlab.superseded_by"
_CONTINUED = " (the same run folder, continued). "


def _headline_metrics(result: ExperimentResult) -> dict[str, float]:
    """``headline/*``: the spec's headline accuracy test (difference, n, p, Holm p) and the power it had."""
    found = headline(result)
    if found is None:
        return {}
    t = found.test
    values = {"headline/accuracy_diff": t.diff, "headline/n": t.n, "headline/p": t.p_value,
              "headline/p_holm": t.p_adjusted, "headline/power_at_reference": found.power_at_reference,
              "headline/detectable_at_80pct": found.detectable_at_target}
    return {k: float(v) for k, v in values.items() if v is not None}


def _scope_tags(result) -> dict[str, str]:
    """``tierlab.retrieval_scope`` (corpus / oracle / unknown) and its label, on runs whose arms retrieved."""
    if result.retrieval is None:
        return {}
    return {"tierlab.retrieval_scope": result.retrieval.scope or "unknown",
            "tierlab.retrieval": result.retrieval.label}


def _supersede_earlier(client, experiment_id: str, run_key: str, parent_id: str) -> None:
    """Tag the runs earlier invocations logged for the same run folder as superseded by ``parent_id``.

    A resumed (or continued) run logs a new parent, because MLflow params cannot change; tagging every earlier
    parent and its arms with the newest parent (also those an earlier resume had tagged) leaves exactly one current
    parent per run folder (search with ``tags.tierlab.superseded_by`` absent), one hop from any older one.
    """
    for run in client.search_runs([experiment_id], filter_string=f"tags.`tierlab.run_key` = '{run_key}'",
                                  max_results=5000):
        tags = run.data.tags
        if parent_id in (run.info.run_id, tags.get("mlflow.parentRunId")) or tags.get(SUPERSEDED_TAG) == parent_id:
            continue
        client.set_tag(run.info.run_id, SUPERSEDED_TAG, parent_id)
        if tags.get("tierlab.kind") == "experiment":
            note = tags.get(NOTE, "")
            if note.startswith("Superseded by run ") and _CONTINUED in note:  # an earlier resume's prefix
                note = note.split(_CONTINUED, 1)[1]
            client.set_tag(run.info.run_id, NOTE, f"Superseded by run {parent_id}{_CONTINUED}{note}")
