"""Which endpoint a call goes to: the one identity the response cache and the quota state are keyed by.

Why: a catalog id alone does not say who answers. The same ``groq/llama-3.1-8b-instant`` can be the real API, a
test server, or a local emulator running with faults; an answer cached from one must never be replayed for another,
and a daily quota spent (or faked) on one must never block another.

* A real endpoint is its catalog entry plus the base URL actually called.
* An emulated endpoint is what the emulator says it runs (``/tierlab/identity``: profile, text backend, faults,
  latency, time scale, seed), not its port, so replays survive a new emulator on a new port. Its quota mirror is
  per emulator *process* (``instance``), because the emulator's own counts live in that process's memory.

``KEY_VERSION`` is part of every key: state written under an older scheme is never read under a newer one.
"""

import hashlib
import json
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from toolkit.providers.catalog import Entry

KEY_VERSION = 2
EMULATED_DIR = "emulated"
"""Quota sub-folder holding one folder per emulator instance (removed when that emulator stops)."""


def digest(data: object) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else ""))) if (
        parts.username or parts.password) else url


@dataclass(frozen=True)
class Endpoint:
    """A frozen, hashable endpoint identity. Build it with ``Endpoint.of``."""

    entry_id: str
    model: str
    base_url: str
    emulated: bool = False
    emulator: str = ""
    """Canonical JSON of the emulator's options (empty for a real endpoint)."""
    instance: str = ""
    """The emulator process (empty for a real endpoint)."""
    pid: int = field(default=0, compare=False)
    """The emulator's process id (not part of the identity; lets ``tierlab providers`` skip stopped emulators)."""

    @classmethod
    def of(cls, entry: Entry, base_url: str | None = None, emulated: bool = False) -> "Endpoint":
        """The identity of calling ``entry`` at ``base_url`` (default: the catalog URL).

        ``emulated=True`` asks the emulator at ``base_url`` what it runs (one local request), so the identity is
        what really answers rather than what the caller believes.
        """
        url = (base_url or entry.resolved_base_url()).rstrip("/")
        if not emulated:
            return cls(entry.id, entry.model, url)
        if not base_url:
            raise ValueError(f"{entry.id}: emulated=True needs the emulator's base_url (running_emulator yields it).")
        options = emulator_identity(url)
        instance, pid = str(options.pop("instance", "")), int(options.pop("pid", 0) or 0)
        return cls(entry.id, entry.model, url, True, json.dumps(options, sort_keys=True), instance, pid)

    @property
    def options(self) -> dict:
        return json.loads(self.emulator) if self.emulator else {}

    @property
    def faults(self) -> dict[str, float]:
        """Faults the emulator injects (none for a real endpoint)."""
        return {k: v for k, v in (self.options.get("faults") or {}).items() if v}

    def cache_identity(self) -> dict:
        """What an answer depends on besides the request: the real URL, or the emulator's options (not its port)."""
        where = {"emulator": self.options} if self.emulated else {"base_url": self.base_url}
        return {"v": KEY_VERSION, "provider": self.entry_id, "model": self.model, "emulated": self.emulated, **where}

    def state_name(self) -> str:
        """File stem of this endpoint's quota state (versioned, so old per-id files are never read)."""
        safe = "".join(c if c.isalnum() or c in "_.-" else "_" for c in self.entry_id)
        kind = "emu" if self.emulated else "api"
        return f"{safe}.{kind}-{digest([self.cache_identity(), self.instance])[:12]}"

    def quota_dir(self, root: Path) -> Path:
        """Real endpoints keep quota under ``root``; an emulator's mirror under ``root/emulated/<instance>``."""
        folder = root / EMULATED_DIR / self.instance if self.emulated else root
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def describe(self) -> dict:
        """A secret-free description (written beside the quota state for ``tierlab providers``)."""
        return {"v": KEY_VERSION, "entry_id": self.entry_id, "base_url": _without_userinfo(self.base_url),
                "emulated": self.emulated, "emulator": self.options, "instance": self.instance, "pid": self.pid}


def emulator_identity(base_url: str, timeout_s: float = 10.0) -> dict:
    """What the TierLab emulator at ``base_url`` runs (``GET /tierlab/identity``)."""
    from toolkit.providers.errors import ProviderError

    url = base_url.rstrip("/").removesuffix("/v1") + "/tierlab/identity"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            return json.loads(answer.read())
    except (OSError, ValueError) as err:
        raise ProviderError(f"{base_url} does not say what it emulates ({url}: {err}); is it a TierLab emulator "
                            "(running_emulator / tierlab emulate)? Pass emulated=False for any other server.",
                            retryable=False) from None


def open_limiter(endpoint: Endpoint, limits, *, root: Path | None = None, **options):
    """The persisted ``QuotaLimiter`` of ``endpoint`` (its description written beside it for ``tierlab providers``)."""
    from toolkit import paths
    from toolkit.providers.limits import QuotaLimiter

    folder, name = endpoint.quota_dir(root or paths.subdir("quota")), endpoint.state_name()
    described = folder / f"{name}.endpoint.json"
    if not described.exists():
        described.write_text(json.dumps(endpoint.describe(), sort_keys=True), encoding="utf-8")
    return QuotaLimiter(endpoint.entry_id, limits, state_dir=folder, state_name=name, **options)


def remaining_quota(provider_id: str, base_url: str | None = None, *, catalog_path: str | None = None) -> dict[str, int]:
    """Requests/tokens left now in each client-side window of a real endpoint (its catalog URL by default).

    An endpoint never called has its whole quota left.
    """
    from toolkit import paths
    from toolkit.providers.catalog import load_catalog
    from toolkit.providers.limits import QuotaLimiter

    entry = load_catalog(catalog_path).entry(provider_id)
    root, name = paths.subdir("quota"), Endpoint.of(entry, base_url).state_name()
    if (root / f"{name}.sqlite").exists():
        limiter = QuotaLimiter(entry.id, entry.limits, state_dir=root, state_name=name)
    else:  # reading must not create state
        limiter = QuotaLimiter(entry.id, entry.limits, persist=False)
    try:
        return {window: state.remaining for window, state in limiter.snapshot().items()}
    finally:
        limiter.close()


def saved_states(root: Path, entry_id: str) -> list[tuple[dict, Path, str]]:
    """(description, folder, state name) of every endpoint of ``entry_id`` with quota state under ``root``: real
    endpoints first, then emulators whose process still runs (their state goes when they stop)."""
    found = []
    for path in sorted(root.glob("*.endpoint.json")) + sorted(root.glob(f"{EMULATED_DIR}/*/*.endpoint.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if data.get("v") != KEY_VERSION or data.get("entry_id") != entry_id:
            continue
        if data.get("emulated") and not _alive(data.get("pid")):
            continue
        found.append((data, path.parent, path.name.removesuffix(".endpoint.json")))
    return found


def label(description: dict) -> str:
    """``real <url>`` or ``emulated (faults=..., latency=...)`` for a saved endpoint description."""
    if not description.get("emulated"):
        return f"real {description.get('base_url')}"
    shown = {k: v for k, v in (description.get("emulator") or {}).items()
             if k in ("faults", "latency", "time_scale", "seed") and v not in (None, {}, [0.0, 0.0])}
    if "latency" in shown:
        shown["latency"] = ":".join(str(x) for x in shown["latency"])
    if "faults" in shown:
        shown["faults"] = ",".join(f"{k}:{v:g}" for k, v in shown["faults"].items())
    return "emulated" + (f" ({', '.join(f'{k}={v}' for k, v in shown.items())})" if shown else "")


def _alive(pid: int | None) -> bool:
    import os

    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
