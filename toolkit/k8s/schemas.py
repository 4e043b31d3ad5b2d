"""Static schema checks: yamllint, the strict core schemas of ``kubernetes-validate`` and the KubeRay CRDs.

Every error of every document is reported; a kind without a schema fails instead of passing silently.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import yaml

from toolkit.k8s.manifests import K8S_DIR, K8S_VERSION, K8sError, crd_dir, ident

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: the CRDs are 36k lines


# ------------------------------------------------------------------------------------------------ yamllint


def lint_yaml(root: Path = K8S_DIR) -> list[str]:
    """yamllint (config ``k8s/.yamllint``) over every YAML file under ``root``."""
    from yamllint import linter
    from yamllint.config import YamlLintConfig

    config = YamlLintConfig(file=str(K8S_DIR / ".yamllint"))
    problems = []
    for path in sorted([*root.rglob("*.yaml"), *root.rglob("*.yml")]):
        for p in linter.run(path.read_text(), config, str(path)):
            problems.append(f"{path}:{p.line}:{p.column}: [{p.level}] {p.desc} ({p.rule})")
    return problems


# ----------------------------------------------------------------------------------------- JSON schemas


@functools.cache
def _core_registry(version: str):
    """The referencing registry of kubernetes-validate's strict schemas for one Kubernetes minor version."""
    import importlib.util

    from referencing import Registry, Resource

    spec = importlib.util.find_spec("kubernetes_validate")  # its data only: importing it is slow
    if spec is None or not spec.submodule_search_locations:
        raise K8sError("kubernetes-validate is not installed; `pip install kubernetes-validate` (dev extra)")
    base = Path(next(iter(spec.submodule_search_locations)))
    folder = base / "kubernetes-json-schema" / f"v{version}.0-local-strict"
    if not folder.is_dir():
        raise K8sError(
            f"kubernetes-validate has no schemas for Kubernetes {version}; upgrade kubernetes-validate"
        )
    definitions = Resource.from_contents(json.loads((folder / "_definitions.json").read_text()))
    return folder, definitions @ Registry()


def _core_schema(kind: str, api_version: str, version: str) -> dict[str, Any] | None:
    folder, _ = _core_registry(version)
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)  # networking.k8s.io/v1 -> networking-v1
    path = folder / f"{kind.lower()}-{group}.json"
    if not path.exists():
        return None
    schema = json.loads(path.read_text())
    kinds = schema.get("properties", {}).get("kind", {}).get("enum", [])
    apis = schema.get("properties", {}).get("apiVersion", {}).get("enum", [])
    return schema if kind in kinds and api_version in apis else None  # a sub-type file is not a kind


def _strict(schema: Any) -> Any:
    """An OpenAPI v3 CRD schema as JSON Schema that rejects unknown fields, as the API server prunes them."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    if "properties" in out:
        out["properties"] = {k: _strict(v) for k, v in out["properties"].items()}
        if "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = _strict(out["additionalProperties"])
    if "items" in out:
        out["items"] = _strict(out["items"])
    for key in ("anyOf", "allOf", "oneOf"):
        if key in out:
            out[key] = [_strict(s) for s in out[key]]
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


@functools.cache
def _crd_schemas(directory: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> strict schema, from every CRD file in ``directory``."""
    schemas = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        for crd in yaml.load_all(path.read_text(), Loader=_LOADER):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for v in crd["spec"]["versions"]:
                schemas[(f"{group}/{v['name']}", kind)] = _strict(v["schema"]["openAPIV3Schema"])
    return schemas


def _k8s_validator():
    """Draft 2020-12 plus the Kubernetes extensions a static check can honour (or must refuse)."""
    from jsonschema import ValidationError, validators

    def cel(validator, rules, instance, schema):
        # CEL rules need an API server; we cannot evaluate them, so a manifest that sets such a field fails.
        yield ValidationError(
            f"field has CEL rules that cannot be checked offline: {[r['rule'] for r in rules]}"
        )

    def list_type(validator, kind, instance, schema):
        if not isinstance(instance, list):
            return
        if kind == "set" and len({json.dumps(i, sort_keys=True) for i in instance}) != len(instance):
            yield ValidationError("list-type set holds duplicate items")
        if kind == "map":
            keys = [tuple(i.get(k) for k in schema.get("x-kubernetes-list-map-keys", [])) for i in instance]
            dupes = sorted({k for k in keys if keys.count(k) > 1}, key=str)
            if dupes:
                yield ValidationError(f"duplicate list-map keys {dupes}")

    return validators.extend(
        validators.Draft202012Validator,
        {"x-kubernetes-validations": cel, "x-kubernetes-list-type": list_type},
    )


def validate_schemas(
    docs: list[dict[str, Any]], *, version: str = K8S_VERSION, crds: Path | None = None
) -> list[str]:
    """Every error of every document; a kind without a schema is an error too (never silently passed)."""
    _, registry = _core_registry(version)
    crd_schemas = _crd_schemas(str(crds or crd_dir()))
    validator_cls = _k8s_validator()
    object_meta = {
        "$ref": "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    }
    problems = []
    for doc in docs:
        kind, api = doc.get("kind"), doc.get("apiVersion")
        if not isinstance(kind, str) or not isinstance(api, str):
            problems.append(f"{ident(doc)}: missing kind or apiVersion")
            continue
        checks = []  # (schema, instance, path prefix)
        if (api, kind) in crd_schemas:
            checks.append((crd_schemas[(api, kind)], doc, []))
            checks.append((object_meta, doc.get("metadata") or {}, ["metadata"]))  # CRDs leave metadata open
        elif (schema := _core_schema(kind, api, version)) is not None:
            checks.append((schema, doc, []))
        else:
            problems.append(f"{ident(doc)}: no schema for kind {kind} ({api}); cannot validate it")
            continue
        for schema, instance, prefix in checks:
            validator = validator_cls(schema, registry=registry)
            for err in sorted(
                validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path]
            ):
                where = ".".join(str(p) for p in [*prefix, *err.absolute_path]) or "<root>"
                problems.append(f"{ident(doc)}: {where}: {err.message}")
    return problems
