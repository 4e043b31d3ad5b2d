"""Planner inputs from the rest of TierLab: measured arms from MLflow runs, offers from the provider catalog.

The planner's own types (``Measured``, ``Offer``) stay small and explicit; this module is the only place that
knows MLflow's column names and the catalog's shape, so either can change without touching the arithmetic.
"""

import math

from toolkit.planner.plan import Measured, Offer
from toolkit.planner.quota import QuotaLimits
from toolkit.planner.workload import Workload


def _num(row, key: str) -> float | None:
    value = row.get(key)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _metric(row, name: str) -> float | None:
    """A logged arm metric by its TierLab name (MLflow columns carry grouped names, e.g. ``quality/accuracy``)."""
    from toolkit.tracking import metric_key

    return _num(row, f"metrics.{metric_key(name)}")


def measured_from_runs(runs) -> list[Measured]:
    """One ``Measured`` per arm run (a DataFrame from ``tracking.load_runs``); runs without answers are skipped.

    Per-request figures are the arm's totals divided by questions answered; the single-stream decode speed is
    output tokens per answer over the median latency.
    """
    out = []
    for _, row in runs.iterrows():
        answered = _metric(row, "answered")
        accuracy = _metric(row, "accuracy")
        catalog_id = row.get("params.provider")
        if not answered or accuracy is None or not isinstance(catalog_id, str):
            continue
        label = row.get("params.provider_label")
        provider = label if isinstance(label, str) and label else catalog_id
        calls = (_metric(row, "calls") or answered) / answered
        out_tokens = (_metric(row, "output_tokens") or 0.0) / answered
        p50 = _metric(row, "latency_p50_s")
        method = str(row.get("params.method") or "")
        strategy = row.get("params.strategy")
        if isinstance(strategy, str) and strategy not in ("", "baseline"):
            method = f"{method}+{strategy}"  # strategy arms are planned as options of their own
        out.append(Measured(
            provider=provider,
            catalog_id=catalog_id,
            method=method,
            accuracy=accuracy,
            hallucination_rate=_metric(row, "hallucination_rate"),
            calls_per_request=max(calls, 1e-9),
            input_tokens_per_request=(_metric(row, "input_tokens") or 0.0) / answered,
            output_tokens_per_request=out_tokens,
            latency_p95_s=_metric(row, "latency_p95_s") or None,  # 0 s: no call was timed (all from a cache)
            stream_tokens_per_s=out_tokens / p50 if p50 else None,
            n_questions=int(answered),
            run_ids=(str(row["run_id"]),),
            retrieval=retrieval_note(row),
        ))
    return out


def retrieval_note(row) -> str:
    """A RAG arm's retrieval as the planner shows it: scope, recall@k, MRR, gold-chunk share ("" if it did not
    retrieve). An oracle scope is named, since its accuracy is an upper bound."""
    scope = row.get("tags.tierlab.retrieval_scope")
    if not isinstance(scope, str) or not scope:
        return ""
    from toolkit.metrics import retrieval_metrics

    figures = [f"{name} {value:.2f}" for name in retrieval_metrics()
               if (value := _metric(row, name)) is not None]
    return f"{scope} scope" + (f": {', '.join(figures)}" if figures else "")


def offer_from_entry(
    entry, workload: Workload | None = None, measured: Measured | None = None, label: str | None = None
) -> Offer:
    """A catalog ``Entry`` as an ``Offer`` named ``label`` (default: its id): free limits (if any), paid prices (if
    any), accelerator-hour pricing if self-hosted (CPU nodes when the catalog prices a CPU machine)."""
    limits = entry.limits
    free = None
    if entry.kind in ("free", "trial") and limits.any():
        per_minute = [v for v in (limits.rpm, limits.rps * 60 if limits.rps else None) if v]
        free = QuotaLimits(
            rpm=min(per_minute) if per_minute else None,
            rph=limits.rph,
            rpd=limits.rpd,
            rpmonth=limits.rpmonth,
            tpm=limits.tpm,
            tph=limits.tph,
            tpd=limits.tpd,
            tpmonth=limits.tpmonth,
            # A rolling 24-hour window caps a steady day the same way; its clock is approximated by UTC.
            reset=limits.reset if limits.reset != "rolling" else "utc-midnight",
        )
    price = entry.price
    if entry.kind == "self-hosted":
        tps = (workload.selfhosted_tokens_per_s.get(entry.id) if workload else None) or (
            measured.stream_tokens_per_s if measured else None)
        return Offer(provider=label or entry.id, third_party=False, gpu_hour_usd=price.usd_per_hour or 0.0,
                     accelerator=price.accelerator,
                     gpu_tokens_per_s=tps, stream_tokens_per_s=measured.stream_tokens_per_s if measured else None)
    paid = price.input_per_m > 0 or price.output_per_m > 0
    return Offer(
        provider=label or entry.id,
        free=free,
        price_in_per_m=price.input_per_m if paid else None,
        price_out_per_m=price.output_per_m if paid else None,
    )


def offers_for(measured: list[Measured], workload: Workload | None = None, catalog=None) -> list[Offer]:
    """Offers for every provider that was measured, from the (packaged + user) catalog."""
    if catalog is None:
        from toolkit.providers.catalog import load_catalog

        catalog = load_catalog()
    first = {}
    for m in measured:
        first.setdefault(m.provider, m)
    return [
        offer_from_entry(catalog.entry(m.catalog_id or label), workload, m, label=label) for label, m in first.items()
    ]


def load_arm_runs(selectors: list[str], tracking_uri: str | None = None):
    """Arm runs chosen by parent run id, arm run id or MLflow experiment name (each selector may be any)."""
    import pandas as pd

    from toolkit import tracking

    everything = tracking.load_runs(tracking_uri=tracking_uri)
    parts = []
    for selector in selectors:
        rows = everything[(everything["run_id"] == selector)
                          | (everything.get("tags.mlflow.parentRunId", pd.Series(dtype=str)) == selector)]
        if rows.empty:
            try:
                rows = tracking.load_runs(selector, tracking_uri=tracking_uri)
            except Exception:  # an unknown experiment name
                rows = rows.iloc[0:0]
        if rows.empty:
            raise ValueError(
                f"no finished arm runs match {selector!r}: pass an experiment name, a parent run id or an arm run id "
                "(see `tierlab runs` or the MLflow UI)"
            )
        parts.append(rows)
    runs = pd.concat(parts).drop_duplicates("run_id")
    superseded = runs.get("tags.tierlab.superseded_by", pd.Series(index=runs.index, dtype=object))
    return runs[superseded.isna() | (superseded == "")]  # a resumed run's earlier arms are superseded
