"""What must hold before a run creates anything: the model endpoints it will call answer.

Why up front: a down endpoint used to give a run folder, an MLflow run with 0 answers and one error per question;
a stopped MLflow server, a 390-line traceback after every answer was paid for. Each is one clear message now,
before a run folder or an MLflow run exists (the MLflow side: ``toolkit.tracking.once``). Only reachability is
checked (a TCP connection): no model request is sent, so no quota is spent.
"""

import socket
from urllib.parse import urlsplit

from toolkit.experiments.spec import ExperimentSpec, ProviderSpec, emulator_backend_url

TIMEOUT_S = 5.0


class Unreachable(RuntimeError):
    """An endpoint or tracking server the run needs does not answer; the message names it and the fix."""


def _connect_error(url: str) -> str | None:
    """Why a TCP connection to ``url``'s host and port fails, or None when it succeeds."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=TIMEOUT_S):
            return None
    except OSError as error:
        return f"{type(error).__name__}: {error}"


def check_endpoints(spec: ExperimentSpec, providers: list[ProviderSpec]) -> None:
    """Every endpoint ``providers`` (those with questions left), a cascade's strong provider and the LLM judge will
    call accepts connections."""
    from toolkit.providers import load_catalog

    catalog = load_catalog()
    for provider in providers:
        if provider.emulate:
            url = emulator_backend_url(provider)
            if url == "echo":
                continue
            what, fix = f"the emulator backend of {provider.name}", "emulator_backend"
        else:
            url = provider.base_url or catalog.entry(provider.id).resolved_base_url()
            what, fix = provider.name, "base_url"
        if problem := _connect_error(url):
            raise Unreachable(f"{what}: {url} is not reachable ({problem}). Start that server (a local one: "
                              f"`tierlab serve up`) or fix `{fix}` in the spec; nothing was run.")
    for method in spec.methods if providers else ():
        cascade = method.strategies.cascade if method.strategies else None
        if cascade is None:
            continue
        url = cascade.base_url or catalog.entry(cascade.strong).resolved_base_url()
        if problem := _connect_error(url):
            raise Unreachable(f"the cascade's strong provider {cascade.strong} (method {method.arm_name}): {url} is "
                              f"not reachable ({problem}). Start it, fix its base_url (`strong:` in a strategies "
                              "file), or drop the cascade; nothing was run.")
    for judge in spec.judges if providers else ():
        if not judge.is_llm:
            continue
        url = judge.base_url or catalog.entry(judge.provider).resolved_base_url()
        if problem := _connect_error(url):
            raise Unreachable(f"the LLM judge {judge.name}: {url} is not reachable ({problem}). Start it, fix its "
                              "`base_url` in `judges:`, or leave it out; nothing was run.")
