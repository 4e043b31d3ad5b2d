"""API keys: read from the environment (or a ``.env`` file the user points to), never stored anywhere.

Keys live only in the request's Authorization header. Everything that leaves the client (errors, cache keys,
metadata) is built without them, and ``redact`` scrubs any text that might echo one back.
"""

import os
from pathlib import Path

from toolkit import security
from toolkit.providers.catalog import Entry

SERVED_PROVIDERS = ("local", "llamacpp")
"""Catalog providers that `tierlab serve up` runs (vLLM on Ray Serve, llama.cpp): they want TierLab's serve key."""


class MissingKeyError(RuntimeError):
    """The provider needs a key that is not set; the message names the variable and the sign-up page."""


def api_key(entry: Entry, env_file: str | Path | None = None) -> str | None:
    """The key for ``entry`` (``None`` for keyless self-hosted endpoints)."""
    if not entry.key_env:
        # TierLab's own servers (`tierlab serve up`) have a key of their own, which the user never has to export.
        return security.serve_api_key() if entry.provider in SERVED_PROVIDERS else None
    value = os.environ.get(entry.key_env)
    if not value and env_file:
        from dotenv import dotenv_values

        path = Path(env_file).expanduser()
        if not path.is_file():
            raise MissingKeyError(f"env file {path} does not exist; fix the path or export {entry.key_env}.")
        value = dotenv_values(path).get(entry.key_env)
    if not value:
        raise MissingKeyError(
            f"{entry.id} needs an API key in ${entry.key_env}. Get one at {entry.signup_url or entry.name}, then "
            f"`export {entry.key_env}=...` (or pass env_file= a .env file containing it)."
        )
    return value


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every given secret replaced, for error messages built from server answers."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
