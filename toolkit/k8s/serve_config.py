"""``serveConfigV2`` checked with Ray's own code, offline: Serve's schema, then ray.serve.llm's app builder.

Ray Serve's schemas accept unknown fields (forward compatibility), so a typo such as ``num_replica`` or
``target_ongoing_request`` would deploy unnoticed and ``engine_kwargs`` typos surface only when a replica starts on
a GPU. Here every application is built exactly as the cluster builds it (``build_openai_app`` on the same args),
which rejects unknown deployment options and engine arguments of the installed vLLM; autoscaling keys are checked
against Serve's ``AutoscalingConfig``; engine arguments against the vLLM of the overlay's image
(``engine_args``). The built deployments are what the capacity check schedules.

Ray's builder reads the driver's runtime_env through ``ray.get_runtime_context()``, which would start a local Ray
instance (~1 minute, processes on the host); building offline, we hand it an empty runtime_env instead, the
only thing it reads there.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from unittest import mock

import yaml

from toolkit.k8s.engine_args import unknown_engine_kwargs
from toolkit.k8s.manifests import ident


@dataclass(frozen=True)
class Demand:
    """What one Serve deployment asks Ray for at its maximum replica count."""

    deployment: str
    replicas: int
    bundles: tuple[dict[str, float], ...]  # one replica's placement group bundles, or its actor resources
    strategy: str | None  # placement group strategy; None for a plain actor


def unknown_keys(model: Any, data: Any, path: str) -> Iterator[str]:
    """Keys in ``data`` that the pydantic ``model`` parsed from it does not know, recursively."""
    from pydantic import BaseModel

    if not isinstance(model, BaseModel) or not isinstance(data, dict):
        return
    fields = type(model).model_fields
    names = {alias for name, f in fields.items() for alias in (name, f.alias) if alias}
    for key, value in data.items():
        if key not in names:
            yield f"{path}{key}"
            continue
        name = next(n for n, f in fields.items() if key in (n, f.alias))
        child = getattr(model, name)
        if isinstance(child, list) and isinstance(value, list):
            for i, (c, v) in enumerate(zip(child, value, strict=False)):
                yield from unknown_keys(c, v, f"{path}{key}.{i}.")
        else:
            yield from unknown_keys(child, value, f"{path}{key}.")


def build_deployments(args: dict[str, Any]) -> list[Demand]:
    """Run ``build_openai_app(args)`` offline and list the deployments it creates, with their resources."""
    import ray
    from ray.serve._private.build_app import build_app
    from ray.serve.llm import build_openai_app

    empty = types.SimpleNamespace(runtime_env={})
    with mock.patch.object(ray, "get_runtime_context", return_value=empty):
        built = build_app(build_openai_app(args), name="offline-check")
    demands = []
    for d in built.deployments:
        config, replica = d._deployment_config, d._replica_config
        scaling = config.autoscaling_config
        replicas = scaling.max_replicas if scaling is not None else config.num_replicas
        if replica.placement_group_bundles:
            bundles, strategy = replica.placement_group_bundles, replica.placement_group_strategy
        else:
            bundles, strategy = [replica.resource_dict], None
        demands.append(Demand(d.name, int(replicas), tuple(dict(b) for b in bundles), strategy))
    return demands


def _llm_config_problems(cfg: dict[str, Any], vllm: str) -> list[str]:
    from pydantic import ValidationError
    from ray.serve.config import AutoscalingConfig

    where = f"model {(cfg.get('model_loading_config') or {}).get('model_id')!r}"
    out = [f"{where}: {p}" for p in unknown_engine_kwargs(cfg.get("engine_kwargs") or {}, vllm)]
    scaling = (cfg.get("deployment_config") or {}).get("autoscaling_config")
    if isinstance(scaling, dict):
        try:
            parsed = AutoscalingConfig.model_validate(scaling)
        except ValidationError as exc:
            return [*out, f"{where}: deployment_config.autoscaling_config is invalid: {exc}"]
        out += [
            f"{where}: unknown field deployment_config.autoscaling_config.{key.rsplit('.', 1)[-1]} "
            "(Ray Serve would silently ignore it)"
            for key in unknown_keys(parsed, scaling, "")
        ]
    return out


def check_serve_config(doc: dict[str, Any], vllm: str) -> tuple[list[str], list[Demand]]:
    """Problems of a RayService's serveConfigV2 and, when it builds, the deployments it creates."""
    from pydantic import ValidationError
    from ray.serve.llm import LLMServingArgs
    from ray.serve.schema import ServeDeploySchema

    from serving.config import BUILDER

    name = ident(doc)
    text = (doc.get("spec") or {}).get("serveConfigV2")
    if not text:
        return [f"{name}: serveConfigV2 is empty; run `tierlab k8s render`"], []
    try:
        config = yaml.safe_load(text)
        parsed = ServeDeploySchema.model_validate(config)
    except (yaml.YAMLError, ValidationError) as exc:
        return [f"{name}: serveConfigV2 is not a valid Serve config: {exc}"], []
    problems = [
        f"{name}: serveConfigV2: unknown field {where} (Ray Serve would silently ignore it)"
        for where in unknown_keys(parsed, config, "")
    ]
    demands: list[Demand] = []
    for app in config["applications"]:
        label = f"{name}: application {app.get('name')!r}"
        if app.get("import_path") != BUILDER:
            problems.append(
                f"{label} imports {app.get('import_path')!r}; only {BUILDER} apps can be validated"
            )
            continue
        args = app.get("args") or {}
        try:
            LLMServingArgs.model_validate(args)
        except (ValidationError, ValueError, ImportError) as exc:
            problems.append(f"{label} args are invalid: {exc}")
            continue
        found = [f"{label}: {p}" for cfg in args["llm_configs"] for p in _llm_config_problems(cfg, vllm)]
        problems += found
        if found:
            continue
        try:
            demands += build_deployments(_for_installed_vllm(args))
        except (TypeError, ValueError, ValidationError, ImportError) as exc:
            problems.append(f"{label}: ray.serve.llm's build_openai_app rejects the args: {exc}")
    return problems, demands


def _for_installed_vllm(args: dict[str, Any]) -> dict[str, Any]:
    """Args without the engine_kwargs the installed vLLM lacks (the image's vLLM, checked above, has them)."""
    import dataclasses

    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.entrypoints.launchers.cli_args import FrontendArgs

    accepted = {f.name for cls in (AsyncEngineArgs, FrontendArgs) for f in dataclasses.fields(cls)}
    args = copy.deepcopy(args)
    for cfg in args["llm_configs"]:
        if cfg.get("engine_kwargs"):
            cfg["engine_kwargs"] = {k: v for k, v in cfg["engine_kwargs"].items() if k in accepted}
    return args
