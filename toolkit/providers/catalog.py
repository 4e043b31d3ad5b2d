"""The provider catalog: documented limits, wire details and prices of every system TierLab talks to.

Cloud and self-hosted endpoints differ only in this data, so the client stays one class. The packaged
``catalog.yaml`` is the source of truth; users deep-merge their own YAML over it (``$TIERLAB_CATALOG`` or a path)
to add models, correct a limit that changed, or price their own GPUs. Everything is validated once, at load time.
"""

import datetime as dt
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from toolkit.providers.dialects import DIALECTS
from toolkit.registry import UnknownNameError, did_you_mean

PACKAGED = Path(__file__).with_name("catalog.yaml")

Kind = Literal["free", "trial", "paid", "retired", "self-hosted", "gateway"]
def _known_dialect(name: str) -> str:
    """A catalog entry names a dialect registered in ``dialects.DIALECTS`` (the one list)."""
    if name not in DIALECTS:
        known = DIALECTS.names()
        raise ValueError(f"unknown dialect {name!r}.{did_you_mean(name, known)} Known dialects: {', '.join(known)}.")
    return name


Dialect = Annotated[str, AfterValidator(_known_dialect)]
Reset = Literal["utc-midnight", "pacific-midnight", "rolling"]


class CatalogError(ValueError):
    """A catalog file that cannot be used; the message names the file, the entry and the fix."""


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(Spec):
    """Documented free-tier limits; ``None`` means "no such limit"."""

    rps: int | None = Field(default=None, gt=0, description="Requests per second.")
    rpm: int | None = Field(default=None, gt=0, description="Requests per minute.")
    rph: int | None = Field(default=None, gt=0, description="Requests per hour.")
    rpd: int | None = Field(default=None, gt=0, description="Requests per day (reset per `reset`).")
    rpmonth: int | None = Field(default=None, gt=0, description="Requests per 30 days (trial keys).")
    tpm: int | None = Field(default=None, gt=0, description="Tokens (in + out) per minute.")
    tph: int | None = Field(default=None, gt=0, description="Tokens per hour.")
    tpd: int | None = Field(default=None, gt=0, description="Tokens per day (reset per `reset`).")
    tpmonth: int | None = Field(default=None, gt=0, description="Tokens per 30 days.")
    neurons_per_day: int | None = Field(default=None, gt=0, description="Cloudflare's daily neuron allowance.")
    reset: Reset = Field(default="rolling", description="When daily windows restart.")
    time_scale: float = Field(
        default=1.0,
        gt=0,
        description="Rehearsal only: windows shrink by this factor (10 => a 'minute' lasts 6 s). Client and emulator "
        "read the same value so they agree.",
    )

    def any(self) -> bool:
        return any(getattr(self, name) for name in Limits.model_fields if name not in ("reset", "time_scale"))


class Price(Spec):
    input_per_m: float = Field(default=0.0, ge=0, description="Paid-tier $ per million input tokens (shadow price).")
    output_per_m: float = Field(default=0.0, ge=0, description="Paid-tier $ per million output tokens.")
    usd_per_hour: float | None = Field(default=None, ge=0, description="Self-hosted capacity price ($ per accelerator-hour).")
    accelerator: Literal["gpu", "cpu"] = Field(default="gpu", description="What usd_per_hour rents: a GPU or a CPU node.")
    neurons_per_m_input: float | None = Field(default=None, ge=0, description="Cloudflare neurons per M input tokens.")
    neurons_per_m_output: float | None = Field(default=None, ge=0, description="Cloudflare neurons per M output tokens.")
    usd_per_1k_neurons: float | None = Field(default=None, ge=0, description="Cloudflare paid price per 1,000 neurons.")


class ModelSpec(Spec):
    checked: dt.date = Field(description="Date the limits and prices were last checked against the vendor's docs.")
    context_window: int = Field(gt=0)
    limits: Limits = Limits()
    price: Price = Price()
    quirks: tuple[str, ...] = ()
    notes: str = ""


class CatalogProvider(Spec):
    """One provider of the YAML catalog and its models (not ``experiments.spec.ProviderSpec``, an arm of a run)."""

    name: str
    kind: Kind
    base_url: str = Field(description="OpenAI-compatible base URL; ${VAR} / ${VAR:-default} are expanded at call time.")
    key_env: str | None = Field(default=None, description="Environment variable holding the API key (None: no key).")
    signup_url: str = ""
    dialect: Dialect = "openai"
    rate_limit_headers: tuple[str, ...] = ()
    quirks: tuple[str, ...] = Field(default=(), description="e.g. no_stream_options (Cohere rejects stream_options).")
    notes: str = ""
    models: dict[str, ModelSpec]


class Entry(Spec):
    """One resolved ``provider/model``: what the client, limiter, cost and emulator need."""

    id: str
    provider: str
    model: str
    name: str
    kind: Kind
    base_url: str
    key_env: str | None
    signup_url: str
    dialect: Dialect
    rate_limit_headers: tuple[str, ...]
    quirks: tuple[str, ...]
    checked: dt.date
    context_window: int
    limits: Limits
    price: Price
    notes: str

    def resolved_base_url(self) -> str:
        """The base URL with ``${VAR}`` / ``${VAR:-default}`` expanded; a missing variable is a clear error."""

        def expand(match: re.Match) -> str:
            var, default = match.group(1), match.group(3)
            value = os.environ.get(var) or default
            if value is None:
                raise CatalogError(f"{self.id}: base URL needs ${var}; set it (export {var}=...) or override base_url.")
            return value

        return re.sub(r"\$\{(\w+)(:-([^}]*))?\}", expand, self.base_url).rstrip("/")


class Catalog(Spec):
    version: int
    providers: dict[str, CatalogProvider]

    def ids(self) -> list[str]:
        return [f"{p}/{m}" for p, spec in self.providers.items() for m in spec.models]

    def entry(self, entry_id: str) -> Entry:
        """Resolve ``provider/model`` (the model may contain '/'; we split on the first one)."""
        provider, _, model = entry_id.partition("/")
        spec = self.providers.get(provider)
        if spec is None or model not in spec.models:
            raise UnknownNameError(
                f"unknown provider model {entry_id!r}.{did_you_mean(entry_id, self.ids())}"
                " Ids are 'provider/model' (run `tierlab providers` to list them, or add yours in a catalog override)."
            )
        m = spec.models[model]
        return Entry(
            id=entry_id,
            provider=provider,
            model=model,
            name=spec.name,
            kind=spec.kind,
            base_url=spec.base_url,
            key_env=spec.key_env,
            signup_url=spec.signup_url,
            dialect=spec.dialect,
            rate_limit_headers=spec.rate_limit_headers,
            quirks=tuple(dict.fromkeys(spec.quirks + m.quirks)),
            checked=m.checked,
            context_window=m.context_window,
            limits=m.limits,
            price=m.price,
            notes=m.notes or spec.notes,
        )


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def _read(path: Path) -> dict:
    if not path.is_file():
        raise CatalogError(f"catalog override {path} does not exist; fix the path or unset $TIERLAB_CATALOG.")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise CatalogError(f"catalog {path} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise CatalogError(f"catalog {path} must be a mapping with 'version' and 'providers'.")
    return data


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The packaged catalog merged with the user's YAML (``path`` or ``$TIERLAB_CATALOG``), validated."""
    override = path or os.environ.get("TIERLAB_CATALOG")
    return _load(str(Path(override).expanduser().resolve()) if override else None, _mtime(override))


def _mtime(path) -> float:
    return Path(path).expanduser().stat().st_mtime if path and Path(path).expanduser().exists() else 0.0


@lru_cache(maxsize=8)
def _load(override: str | None, _mtime: float) -> Catalog:
    data = _read(PACKAGED)
    sources = str(PACKAGED)
    if override:
        data = _merge(data, _read(Path(override)))
        sources += f" + {override}"
    try:
        return Catalog.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors(include_url=False)
        )
        raise CatalogError(f"malformed catalog ({sources}): {problems}") from None
