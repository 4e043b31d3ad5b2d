"""Serving profiles: YAML files in ``serving/configs`` written in ray.serve.llm's ``LLMConfig`` schema.

One source of truth: the same YAML is validated by ``LLMConfig`` itself, deployed locally by ``serving.app`` and
rendered by ``serve_config`` into the ``applications:`` block that ``serve deploy`` and KubeRay's
``serveConfigV2`` take, so a local run and a cluster run cannot drift apart.

Profiles may reference environment variables as ``${VAR}`` or ``${VAR:-default}``; they are resolved at load
time so no machine path is written into a YAML file. ``TIERLAB_MODELS`` defaults like ``toolkit.paths``:
``$TIERLAB_HOME/models`` or ``~/.tierlab/models``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from ray.serve.llm import LLMConfig

CONFIGS_DIR = Path(__file__).resolve().parent / "configs"
PRICES_FILE = CONFIGS_DIR / "prices.yaml"
INGRESS_CLS = "serving.ingress:CostedIngress"
BUILDER = "ray.serve.llm:build_openai_app"
PRICE_OVERRIDE_ENV = "TIERLAB_USD_PER_HOUR"
_VAR = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


class ProfileError(ValueError):
    """A profile is unknown, unresolvable or invalid; the message names the file and the fix."""


def default_env() -> dict[str, str]:
    """The environment used to resolve placeholders, with TierLab's defaults filled in."""
    env = dict(os.environ)
    home = Path(env.get("TIERLAB_HOME") or Path.home() / ".tierlab").expanduser()
    env.setdefault("TIERLAB_MODELS", str(home / "models"))
    return env


def profile_names() -> list[str]:
    return sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml") if p != PRICES_FILE)


def profile_path(name: str) -> Path:
    path = CONFIGS_DIR / f"{name}.yaml"
    if name not in profile_names():
        close = difflib.get_close_matches(name, profile_names(), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ProfileError(f"unknown serving profile {name!r}.{hint} Known: {', '.join(profile_names())}.")
    return path


def resolve(text: str, env: Mapping[str, str] | None = None, *, source: str = "profile") -> str:
    """Substitute ``${VAR}`` / ``${VAR:-default}``; an unset variable without default is an error."""
    env = default_env() if env is None else env

    def sub(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ProfileError(f"{source} uses ${{{name}}} but it is not set; export {name}=... and retry")

    return _VAR.sub(sub, text)


def profile_dict(name: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The profile as a plain dict with placeholders resolved (what gets rendered and deployed)."""
    path = profile_path(name)
    data = yaml.safe_load(resolve(path.read_text(), env, source=str(path)))
    if not isinstance(data, dict):
        raise ProfileError(f"{path} must hold one LLMConfig mapping, got {type(data).__name__}")
    return data


def load_profile(name: str, env: Mapping[str, str] | None = None) -> LLMConfig:
    """Validate a profile with ``ray.serve.llm.LLMConfig`` itself (no GPU needed)."""
    from pydantic import ValidationError
    from ray.serve.llm import LLMConfig

    data = profile_dict(name, env)
    try:
        return LLMConfig.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(f"{profile_path(name)} is not a valid LLMConfig:\n{exc}") from exc


def accelerators_per_replica(cfg: LLMConfig) -> tuple[str, float]:
    """(price key, count) a replica reserves: GPUs of its accelerator type, or vCPUs for CPU profiles."""
    engine = cfg.engine_kwargs or {}
    bundles = (cfg.placement_group_config or {}).get("bundles")
    on_cpu = cfg.accelerator_config is not None and cfg.accelerator_config.kind == "cpu"
    unit = "CPU" if on_cpu else "GPU"
    if bundles:
        count = float(sum(b.get(unit, 0) for b in bundles))
    else:
        count = float(engine.get("tensor_parallel_size", 1) * engine.get("pipeline_parallel_size", 1))
    return ("cpu" if on_cpu else (cfg.accelerator_type or "GPU")), max(count, 1.0)


def usd_per_hour(cfg: LLMConfig, env: Mapping[str, str] | None = None) -> float:
    """What one replica costs per hour: ``price[accelerator] * accelerators per replica``.

    ``$TIERLAB_USD_PER_HOUR`` overrides it (e.g. a negotiated rate or an owned machine's amortised cost).
    """
    env = default_env() if env is None else env
    if env.get(PRICE_OVERRIDE_ENV):
        return float(env[PRICE_OVERRIDE_ENV])
    prices = yaml.safe_load(PRICES_FILE.read_text())
    key, count = accelerators_per_replica(cfg)
    if key not in prices:
        raise ProfileError(
            f"no price for accelerator {key!r} of model {cfg.model_id!r}; add it to {PRICES_FILE} "
            f"or set {PRICE_OVERRIDE_ENV}"
        )
    return float(prices[key]) * count


def serving_args(names: list[str] | tuple[str, ...], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``args`` of ``build_openai_app``: the profiles plus the cost-reporting ingress and its prices."""
    if not names:
        raise ProfileError(f"name at least one serving profile; known: {', '.join(profile_names())}")
    configs = [profile_dict(n, env) for n in names]
    prices = {}
    for name in names:
        cfg = load_profile(name, env)
        prices[cfg.model_id] = usd_per_hour(cfg, env)
    return {
        "llm_configs": configs,
        "ingress_cls_config": {"ingress_cls": INGRESS_CLS, "ingress_extra_kwargs": {"usd_per_hour": prices}},
    }


def serve_config(
    profile_names: list[str] | tuple[str, ...],
    *,
    app_name: str = "tierlab-llm",
    route_prefix: str = "/",
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Serve config (``applications:``) for the profiles, as ``serve deploy`` / KubeRay ``serveConfigV2`` take it."""
    return {
        "applications": [
            {
                "name": app_name,
                "route_prefix": route_prefix,
                "import_path": BUILDER,
                "args": serving_args(profile_names, env),
            }
        ]
    }
