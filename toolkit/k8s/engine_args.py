"""Which ``engine_kwargs`` the vLLM inside an overlay's Ray image accepts.

ray.serve.llm (2.60) splits ``engine_kwargs`` into vLLM's ``FrontendArgs`` and ``AsyncEngineArgs`` dataclass
fields and raises "Unknown engine argument" for anything else, but only at replica start-up, inside the cluster,
against the vLLM of the image. Offline we have one vLLM (the CPU wheel), which is not the GPU image's, so the
accepted names of each image's vLLM are pinned in ``vllm_args/vllm-<version>.txt``, derived from that version's
own source by ``derive_fields`` (the class bodies of ``EngineArgs``/``AsyncEngineArgs`` in
``vllm/engine/arg_utils.py`` and ``BaseFrontendArgs``/``FrontendArgs`` in ``vllm/entrypoints/launchers/cli_args.py``).
Each file's header says which wheel it came from; a test re-derives the installed vLLM's list and compares it with
the dataclass fields, which is what proves the method.
"""

from __future__ import annotations

import ast
import difflib
import functools
from pathlib import Path

from toolkit.k8s.manifests import K8sError

VLLM_ARGS_DIR = Path(__file__).resolve().parent / "vllm_args"
ENGINE_CLASSES = ("EngineArgs", "AsyncEngineArgs")
FRONTEND_CLASSES = ("BaseFrontendArgs", "FrontendArgs")


def derive_fields(arg_utils_source: str, cli_args_source: str) -> set[str]:
    """Field names of vLLM's engine and frontend arg dataclasses, read from their source (no import needed)."""

    def names(source: str, classes: tuple[str, ...]) -> set[str]:
        found = {
            stmt.target.id
            for node in ast.parse(source).body
            if isinstance(node, ast.ClassDef) and node.name in classes
            for stmt in node.body
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
        }
        if not found:
            raise K8sError(f"none of the classes {classes} found in the given vLLM source")
        return found

    return names(arg_utils_source, ENGINE_CLASSES) | names(cli_args_source, FRONTEND_CLASSES)


@functools.cache
def pinned_fields(version: str) -> frozenset[str]:
    """The accepted ``engine_kwargs`` names of vLLM ``version``, from ``vllm_args/vllm-<version>.txt``."""
    path = VLLM_ARGS_DIR / f"vllm-{version}.txt"
    if not path.exists():
        known = sorted(p.stem.removeprefix("vllm-") for p in VLLM_ARGS_DIR.glob("vllm-*.txt"))
        raise K8sError(
            f"no pinned engine arguments for vLLM {version} (known: {', '.join(known)}); derive them with "
            "toolkit.k8s.engine_args.derive_fields from that version's source and add " + str(path.name)
        )
    lines = (line.strip() for line in path.read_text().splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


def unknown_engine_kwargs(engine_kwargs: dict, version: str) -> list[str]:
    """One message per key vLLM ``version`` would reject, with the closest valid name."""
    accepted = pinned_fields(version)
    out = []
    for key in engine_kwargs:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1, cutoff=0.8)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            out.append(f"engine_kwargs.{key} is not an engine argument of vLLM {version}{hint}")
    return out
