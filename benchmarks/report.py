"""One result format for every benchmark: ``benchmarks/results/<name>.json`` plus the same table on stdout.

Why one helper: a skeptic compares runs across machines and dates, so every file says when (``date``), on what code
(``git``), on what machine (cores, memory, CPU model, load average before and after: the machine is shared) and
which goals the figures met. The README table is generated from these files (``python -m benchmarks.report
--readme``), never typed by hand.

    {"benchmark", "date", "git", "machine": {...}, "figures": {...}, "goals": {name: {target, value, met}}, "met"}
"""

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        return 0.0


def _git() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.strip()
        # results other benchmarks of the same `make bench` already wrote are output, not code under measurement
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)benchmarks/results"], cwd=root, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")


def machine(load_at_start: float | None = None) -> dict:
    """Cores, memory, CPU model and the 1-minute load average (at start, if given, and now)."""
    load_now = round(os.getloadavg()[0], 1)
    return {"cores": os.cpu_count(), "memory_gib": _memory_gib(), "cpu_model": _cpu_model(),
            "python": platform.python_version(),
            "load_average_1m": {"start": load_at_start if load_at_start is not None else load_now, "end": load_now}}


def load_average() -> float:
    return round(os.getloadavg()[0], 1)


def goal(value: float | int | None, target: str, met: bool) -> dict:
    """One goal: the measured value, the target as a human reads it (``">= 0.95"``), and whether it was met."""
    return {"value": value, "target": target, "met": bool(met)}


def write(name: str, figures: dict, goals: dict[str, dict], *, load_at_start: float, notes: str = "",
          headline: list[str] | None = None) -> dict:
    """Write ``results/<name>.json`` and print the same content as a table. Returns the result.

    ``headline``: one-line comparisons with the peer (shown under the README table)."""
    result = {"benchmark": name, "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "git": _git(),
              "machine": machine(load_at_start), "figures": figures, "goals": goals,
              "met": all(g["met"] for g in goals.values())}
    if notes:
        result["notes"] = notes
    if headline:
        result["headline"] = headline
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")
    print(render(result))
    return result


def _flat(prefix: str, value) -> list[tuple[str, object]]:
    if isinstance(value, dict):
        return [row for key, sub in value.items() for row in _flat(f"{prefix}.{key}" if prefix else str(key), sub)]
    return [(prefix, value)]


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def render(result: dict) -> str:
    """The plain-text table printed by every benchmark."""
    m = result["machine"]
    lines = [f"== {result['benchmark']}  {result['date']}  git {result['git']}  {m['cores']} cores "
             f"{m['memory_gib']} GiB  {m['cpu_model']}  load {m['load_average_1m']['start']} -> "
             f"{m['load_average_1m']['end']}", "figures:"]
    rows = _flat("", result["figures"])
    width = max((len(k) for k, _ in rows), default=10)
    lines += [f"  {k:<{width}}  {_fmt(v)}" for k, v in rows]
    lines.append("goals:")
    for name, g in result["goals"].items():
        lines.append(f"  {'MET ' if g['met'] else 'MISS'}  {name:<40} {_fmt(g['value']):>10}  (goal {g['target']})")
    lines.append(f"all goals met: {result['met']}")
    lines += [f"  * {line}" for line in result.get("headline", [])]
    return "\n".join(lines)


def markdown() -> str:
    """The README table: one row per goal of every committed result."""
    rows = ["| benchmark | goal | measured | target | met | date, git, load |", "|---|---|---|---|---|---|"]
    notes = []
    for path in sorted(RESULTS.glob("*.json")):
        result = json.loads(path.read_text())
        load = result["machine"]["load_average_1m"]
        when = f"{result['date'][:10]}, `{result['git']}`, load {load['start']}"
        for name, g in result["goals"].items():
            rows.append(f"| {result['benchmark']} | {name} | {_fmt(g['value'])} | {g['target']} | "
                        f"{'yes' if g['met'] else '**no**'} | {when} |")
        notes += [f"- {result['benchmark']}: {line}" for line in result.get("headline", [])]
    return "\n".join(rows + ([""] + notes if notes else []))


def update_readme() -> None:
    """Replace the table between the bench markers in README.md."""
    text = README.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"README.md has no {START} ... {END} block to fill")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{markdown()}\n{END}{tail}")


if __name__ == "__main__":
    if "--readme" in sys.argv:
        update_readme()
    else:
        for path in sorted(RESULTS.glob("*.json")):
            print(render(json.loads(path.read_text())) + "\n")
