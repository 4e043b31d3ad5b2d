"""Import contracts over ``toolkit/``, read with ``ast`` (every import, including those inside functions).

The runner does not import tracking: callers pass ``log=tracking.mlflow_logger()``. Tracking reads the
experiments' value types (spec, results, store, marks, rates, report, plots), never the runner's internals. No two
subpackages import each other, directly or round a loop (issue 30 paid the last ``KNOWN_CYCLES``); a cycle fails
here.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "toolkit"

VALUE_MODULES = {"spec", "results", "store", "marks", "rates", "report", "plots", "headline", "preconditions"}
"""What of ``toolkit.experiments`` tracking may read: the value types (a run's answers, human marks and the rates
corrected by them), their renderings, and the leaf pre-run check (``Unreachable``, which imports only the spec)."""

KNOWN_CYCLES: tuple[set[str], ...] = ()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of every ``toolkit`` module or attribute ``path`` imports."""
    module = _module_name(path)
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            origin = node.module or ""
            if node.level:
                origin = ".".join(base[: len(base) - node.level + 1] + ([origin] if origin else []))
            found.update(f"{origin}.{alias.name}" for alias in node.names)
            found.add(origin)
    return {name for name in found if name == "toolkit" or name.startswith("toolkit.")}


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def _subpackage(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else None


def test_the_import_reader_sees_function_local_imports():
    sample = PACKAGE / "experiments" / "runner.py"
    assert "toolkit.experiments.ray_backend.run_on_ray" in _imports(sample)  # imported inside a function


def test_experiments_never_import_tracking():
    offenders = {
        module: sorted(n for n in names if n == "toolkit.tracking" or n.startswith("toolkit.tracking."))
        for module, names in _graph().items()
        if module.startswith("toolkit.experiments")
    }
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"pass a log hook (tracking.mlflow_logger) from the caller instead: {offenders}"


def test_tracking_reads_only_the_experiments_value_types():
    reached = {
        (module, name)
        for module, names in _graph().items()
        if module.startswith("toolkit.tracking")
        for name in names
        if name.startswith("toolkit.experiments.") and name.split(".")[2] not in VALUE_MODULES
    }
    assert not reached, f"tracking reaches into the runner's internals: {sorted(reached)}"


def _cycles(arrows: set[tuple[str, str]]) -> list[set[str]]:
    """Groups of subpackages each reachable from every other (strongly connected, more than one)."""
    reach = {}
    for start in {a for a, _ in arrows}:
        seen, todo = set(), [start]
        while todo:
            for a, b in arrows:
                if a == todo[-1] and b not in seen:
                    seen.add(b)
                    todo.append(b)
                    break
            else:
                todo.pop()
        reach[start] = seen
    groups = {frozenset({a} | {b for b in reach[a] if a in reach.get(b, ())}) for a in reach}
    return [set(g) for g in groups if len(g) > 1]


def test_the_cycle_finder_sees_a_loop_round_three_packages():
    assert _cycles({("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")}) == [{"a", "b", "c"}]


def test_no_cycle_between_subpackages_beyond_the_known_ones():
    arrows = set()
    for module, names in _graph().items():
        source = _subpackage(module)
        for name in names:
            target = _subpackage(name)
            if source and target and source != target:
                arrows.add((source, target))
    new = [c for c in _cycles(arrows) if not any(c <= known for known in KNOWN_CYCLES)]
    assert not new, f"new import cycle(s) between subpackages: {new}"
