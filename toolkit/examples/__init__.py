"""The example experiment specs (``quickstart``, ``free_tier_vs_self_hosted``, …) as package data.

Why a package: an installed wheel has no ``experiments/`` folder, yet ``tierlab demo`` and
``ui.experiment_panel("quickstart")`` must work from any directory. In a checkout these files are symlinks to
``experiments/*.yaml`` (one copy to edit); building the wheel copies their content.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

EXAMPLES_DIR = Path(__file__).resolve().parent


def example_names() -> list[str]:
    return sorted(p.stem for p in EXAMPLES_DIR.glob("*.yaml"))


def example_path(name: str) -> Path:
    """The YAML of the example ``name``; an unknown name is a ``ValueError`` listing the examples."""
    path = EXAMPLES_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"no example spec {name!r}: pass a YAML path or one of the examples {example_names()}.")
    return path


def resolve_spec(spec: Any = None):
    """An ``ExperimentSpec`` from a spec object, a YAML path, or an example name (default ``quickstart``)."""
    from toolkit.experiments.spec import ExperimentSpec, SpecError, load_spec

    if isinstance(spec, ExperimentSpec):
        return spec
    candidate = Path(spec or "quickstart")
    if candidate.suffix not in (".yaml", ".yml") and not candidate.exists() and candidate.name in example_names():
        candidate = example_path(candidate.name)
    if not candidate.exists():
        raise SpecError(f"no spec {str(spec)!r}: pass a YAML path or one of the examples {example_names()}.")
    return load_spec(candidate)
