"""What the Experiment panel offers: providers with their key/quota/emulation status, methods, metrics, judges.

Read from the other areas' registries and catalog at panel build time, so a newly registered method or a
catalog override shows up without touching the UI.
"""

from __future__ import annotations

import os
from typing import Any

from toolkit.ui.state import ProviderStatus

"""Metrics the runner reports for every arm anyway; offering them as choices would only confuse."""

EMULATABLE_KINDS = ("free", "trial")


def _remaining_today(entry, base_url: str | None = None) -> int | None:
    """Requests left today at this real endpoint (the same numbers `tierlab providers` prints)."""
    if not entry.limits.rpd:
        return None
    from toolkit.providers import remaining_quota
    from toolkit.providers.catalog import CatalogError

    try:
        return remaining_quota(entry.id, base_url).get("rpd")
    except CatalogError:  # its URL needs an unset variable: it cannot have been called
        return entry.limits.rpd


def provider_status(provider: dict[str, Any], catalog=None) -> ProviderStatus:
    """Status of one spec provider entry (``{"id": ..., "emulate": ...}``) against the catalog."""
    from toolkit.experiments.spec import ProviderSpec

    spec = ProviderSpec.model_validate(provider)
    if catalog is None:
        from toolkit.providers import load_catalog

        catalog = load_catalog()
    entry = catalog.entry(spec.id)
    return ProviderStatus(
        id=spec.name,
        key_env=None if spec.emulate else entry.key_env,
        key_present=spec.emulate or not entry.key_env or bool(os.environ.get(entry.key_env)),
        remaining_today=None if spec.emulate else _remaining_today(entry, spec.base_url),
        emulated=spec.emulate,
        kind=entry.kind,
    )


def provider_pool(base_providers: list[dict[str, Any]] | tuple = ()) -> dict[str, dict[str, Any]]:
    """Every provider a researcher can pick, keyed by its arm name: the spec's own entries first (keeping their
    options), then each catalog id, plus an emulated variant of every free/trial cloud tier."""
    from toolkit.experiments.spec import EMULATED_SUFFIX, ProviderSpec, provider_entry
    from toolkit.providers import load_catalog

    pool: dict[str, dict[str, Any]] = {}
    for raw in base_providers:
        spec = ProviderSpec.model_validate(provider_entry(raw) if isinstance(raw, str) else raw)
        pool.setdefault(spec.name, spec.model_dump(mode="json", exclude_defaults=True) | {"id": spec.id})
    catalog = load_catalog()
    for entry_id in catalog.ids():
        pool.setdefault(entry_id, {"id": entry_id})
        if catalog.entry(entry_id).kind in EMULATABLE_KINDS:
            pool.setdefault(f"{entry_id}{EMULATED_SUFFIX}", {"id": entry_id, "emulate": True})
    return pool


def provider_statuses(pool: dict[str, dict[str, Any]]) -> dict[str, ProviderStatus]:
    from toolkit.providers import load_catalog

    catalog = load_catalog()
    return {name: provider_status(entry, catalog) for name, entry in pool.items()}


def method_names() -> list[str]:
    from toolkit.methods import METHODS

    return METHODS.names()


def metric_names() -> list[str]:
    from toolkit.metrics import METRICS

    return [name for name in METRICS.names() if METRICS.info(name).selectable]


def judge_names() -> list[str]:
    from toolkit.judges.rejudge import judge_choices

    return judge_choices()
