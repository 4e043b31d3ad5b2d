"""``tierlab providers`` (the catalog with key status and today's remaining quota) and ``tierlab emulate``."""

import os
import time
from typing import Annotated

import typer

from toolkit.providers.emulator import emulate

__all__ = ["emulate", "providers"]


def _limits(limits) -> str:
    names = ("rps", "rpm", "rph", "rpd", "rpmonth", "tpm", "tph", "tpd", "tpmonth", "neurons_per_day")
    text = " ".join(f"{n}={getattr(limits, n)}" for n in names if getattr(limits, n))
    return f"{text} ({limits.reset})" if text else "-"


def providers(
    catalog: Annotated[str | None, typer.Option(help="Catalog override YAML (default: $TIERLAB_CATALOG).")] = None,
    provider: Annotated[str | None, typer.Option(help="Only this provider, e.g. groq.")] = None,
) -> None:
    """List the provider catalog: key present/missing and today's remaining quota per endpoint (the real API, each
    other base URL, each running emulator), from the shared limiter state."""
    from toolkit import paths
    from toolkit.providers.catalog import CatalogError, load_catalog

    try:
        cat = load_catalog(catalog)
    except CatalogError as err:
        raise typer.BadParameter(str(err)) from None
    quota_dir = paths.subdir("quota")
    typer.echo(f"catalog version {cat.version}; quota state in {quota_dir}")
    for entry_id in cat.ids():
        entry = cat.entry(entry_id)
        if provider and entry.provider != provider:
            continue
        key = "no key needed" if not entry.key_env else (
            f"key ${entry.key_env} present" if os.environ.get(entry.key_env) else f"key ${entry.key_env} MISSING"
            f" (sign up: {entry.signup_url})")
        typer.echo(f"{entry_id:55} {entry.kind:11} checked {entry.checked}  {key}\n"
                   f"    limits: {_limits(entry.limits)}")
        if entry.limits.any():
            for line in _quota_lines(entry, quota_dir):
                typer.echo(f"    {line}")


def _quota_lines(entry, quota_dir) -> list[str]:
    """One line per endpoint of ``entry`` with quota state: remaining per window, and a server-reported exhaustion."""
    from toolkit.providers.endpoint import label, saved_states
    from toolkit.providers.limits import QuotaLimiter

    lines = []
    for description, folder, name in saved_states(quota_dir, entry.id):
        limiter = QuotaLimiter(entry.id, entry.limits, state_dir=folder, state_name=name)
        try:
            remaining = " ".join(f"{n}={w.remaining}/{w.limit}" for n, w in limiter.snapshot().items())
            if limiter.server_view().get("exhausted_until", 0) > time.time():
                remaining += " [server said: daily quota exhausted]"
        finally:
            limiter.close()
        lines.append(f"{label(description)}: remaining {remaining}")
    return lines
