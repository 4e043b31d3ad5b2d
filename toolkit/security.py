"""Secrets and network exposure of everything TierLab starts on this machine.

Two secrets live under ``$TIERLAB_HOME/secrets/`` (directory 0700, files 0600), generated on first use and
never printed, logged or sent to MLflow:

- ``ray_auth_token``: the token of every Ray cluster TierLab starts (``tierlab serve up``, the runner's private
  Ray). Ray reads it through ``RAY_AUTH_TOKEN_PATH`` with ``RAY_AUTH_MODE=token``, so a client without it is
  refused even from this machine.
- ``serve_api_key``: the API key of the local OpenAI endpoint (``Authorization: Bearer <key>``), unless
  ``$TIERLAB_SERVE_API_KEY`` sets one.

Ray turns ``--node-ip-address=127.0.0.1`` / ``ray.init(_node_ip_address="127.0.0.1")`` into the machine's
external address on Linux (``services.resolve_ip_for_localhost``), and its gRPC servers (GCS, raylet, workers,
object manager) listen on every interface unless the node IP is literally 127.0.0.1. The one setting that keeps
the node on loopback is ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (a single-machine Ray), read when ``ray`` is
imported; :func:`local_ray` also applies it to an already imported ``ray``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from toolkit import paths

RAY_TOKEN_FILE = "ray_auth_token"
SERVE_KEY_FILE = "serve_api_key"
SERVE_KEY_ENV = "TIERLAB_SERVE_API_KEY"
RAY_TOKEN_ENV = "RAY_AUTH_TOKEN"
RAY_TOKEN_PATH_ENV = "RAY_AUTH_TOKEN_PATH"
SINGLE_MACHINE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
K8S_RAY_SECRET = "tierlab-ray-auth"  # key auth_token, what KubeRay's authOptions.secretName expects
K8S_SERVE_SECRET = "tierlab-serve-api-key"  # key api-key, mounted as $TIERLAB_SERVE_API_KEY


class RayAuthError(RuntimeError):
    """A Ray cluster refused us for want of its token; the message names the variable to set (never a token)."""


def secrets_dir() -> Path:
    path = paths.home() / "secrets"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def secret_file(name: str, *, create: bool = True) -> Path:
    """``$TIERLAB_HOME/secrets/<name>``, created with a fresh random value (mode 0600) if missing and asked to.

    Rotation is deleting the file: the next start generates a new value (see README "Security")."""
    path = secrets_dir() / name
    if create and not path.exists():
        with contextlib.suppress(FileExistsError):  # two processes at once: the first one's value wins
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as file:
                file.write(secrets.token_hex(32) + "\n")
    if path.exists() and path.stat().st_mode & 0o077:
        path.chmod(0o600)  # a copied or hand-made file: nobody else may read it
    return path


def ray_token_file() -> Path:
    return secret_file(RAY_TOKEN_FILE)


def serve_api_key(*, create: bool = False) -> str | None:
    """The local endpoint's key: ``$TIERLAB_SERVE_API_KEY``, else the home's key file (made if ``create``);
    ``None`` when neither exists (a server started without a key accepts any request)."""
    if value := os.environ.get(SERVE_KEY_ENV, "").strip():
        return value
    path = secret_file(SERVE_KEY_FILE, create=create)
    return path.read_text().strip() or None if path.is_file() else None


def serve_auth_headers(url: str | None = None) -> dict[str, str]:
    """``Authorization`` for TierLab's own server; empty for a non-loopback ``url`` (the key is not theirs)."""
    if url is not None and not is_loopback(urlsplit(url).hostname or ""):
        return {}
    key = serve_api_key()
    return {"Authorization": f"Bearer {key}"} if key else {}


def local_ray_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a process that starts a local Ray: token auth with the home's token, loopback only.

    ``RAY_AUTH_TOKEN`` is dropped because Ray prefers it to the token file: a user's token for a remote cluster
    must not become the local cluster's."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k != RAY_TOKEN_ENV}
    env.update({
        "RAY_AUTH_MODE": "token",
        RAY_TOKEN_PATH_ENV: str(ray_token_file()),
        SINGLE_MACHINE_ENV: "0",
        "RAY_USAGE_STATS_ENABLED": "0",
    })  # fmt: skip
    return env


@contextlib.contextmanager
def local_ray() -> Iterator[None]:
    """Within this block, a ``ray.init(address="local", ...)`` in this process starts a loopback-only,
    token-protected Ray; the previous environment is restored afterwards (call ``ray.shutdown`` inside)."""
    keys = ("RAY_AUTH_MODE", RAY_TOKEN_ENV, RAY_TOKEN_PATH_ENV, SINGLE_MACHINE_ENV, "RAY_USAGE_STATS_ENABLED")
    saved = {k: os.environ.get(k) for k in keys}
    wanted = local_ray_env()
    os.environ.pop(RAY_TOKEN_ENV, None)
    os.environ.update({k: wanted[k] for k in keys if k in wanted})
    _refresh_ray(single_machine=True)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _refresh_ray(single_machine=saved[SINGLE_MACHINE_ENV] == "0")


def _refresh_ray(*, single_machine: bool) -> None:
    """Make an already imported ``ray`` see the current environment: its C++ config (auth mode) and token
    cache are read once, and the single-machine switch is a module constant read at import."""
    import ray._private.ray_constants as ray_constants
    from ray._raylet import AuthenticationTokenLoader, Config

    ray_constants.ENABLE_RAY_CLUSTER = not single_machine
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


def check_private_ray() -> None:
    """Raise (after shutting it down) if the Ray this process started is reachable from other machines."""
    import ray

    node_ip = ray.util.get_node_ip_address()
    if node_ip != "127.0.0.1" or os.environ.get("RAY_AUTH_MODE") != "token":
        ray.shutdown()
        raise RuntimeError(
            f"the local Ray came up on {node_ip} with RAY_AUTH_MODE={os.environ.get('RAY_AUTH_MODE')!r}; "
            "TierLab starts Ray only on 127.0.0.1 with token auth (start it inside toolkit.security.local_ray())"
        )


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name says it holds a secret (never copied into Ray's runtime env)."""
    return any(word in name.upper() for word in ("KEY", "TOKEN", "SECRET", "PASSWORD", "AUTH"))


def connect_ray(address: str, **init_kwargs) -> None:
    """``ray.init(address=...)`` to a user's cluster with the token the user provides in the environment.

    Ray sends a token only in token mode, and turns that mode on by itself only for a cluster it finds on its
    own; with an explicit address, a token in the environment switches it on here."""
    import ray

    has_token = bool(os.environ.get(RAY_TOKEN_ENV) or os.environ.get(RAY_TOKEN_PATH_ENV))
    if has_token and not os.environ.get("RAY_AUTH_MODE"):
        os.environ["RAY_AUTH_MODE"] = "token"
    # Ray rewrites 127.0.0.1 to the external address, where a loopback-only cluster (TierLab's) is not found.
    loopback = is_loopback(address.rsplit(":", 1)[0].strip("[]"))
    if loopback:
        os.environ[SINGLE_MACHINE_ENV] = "0"
    _refresh_ray(single_machine=loopback or not ray._private.ray_constants.ENABLE_RAY_CLUSTER)
    try:
        ray.init(address=address, **init_kwargs)
    except Exception as exc:  # ray raises ConnectionError from AuthenticationError, or AuthenticationError
        if not _is_auth_error(exc):
            raise
        ray.shutdown()
        problem = (
            f"refused the token in ${RAY_TOKEN_ENV}/${RAY_TOKEN_PATH_ENV}" if has_token else "requires a token"
        )
        raise RayAuthError(
            f"the Ray cluster at {address} {problem}: export {RAY_TOKEN_ENV}=<the cluster's token> (or "
            f"{RAY_TOKEN_PATH_ENV}=<a file holding it>) and retry. On KubeRay the token is in Secret "
            f"{K8S_RAY_SECRET}, key auth_token."
        ) from None


def _is_auth_error(exc: BaseException | None) -> bool:
    from ray.exceptions import AuthenticationError

    while exc is not None:
        if isinstance(exc, AuthenticationError) or "InvalidAuthToken" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and IPv4-mapped loopback (``::ffff:127.0.0.1``, how gRPC reports a v4 loopback bind)."""
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)
