"""`tierlab judge eval FILE.jsonl [--judge NAME ...] [--json]`: measure judges against labelled answers.

Prints a table per judge (overall, and on the context-only / gold-only / both subsets), or with ``--json`` one
JSON object per judge per line, the default judge's last. Bad input exits with code 2 and one message naming the
file, the line and the field.
"""

import json
import math
from pathlib import Path
from typing import Annotated

import typer

cli = typer.Typer(help="Hallucination judges: meta-evaluate them on labelled answers.", no_args_is_help=True)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _fmt(value) -> str:
    if isinstance(value, float):
        return "  -  " if math.isnan(value) else f"{value:.3f}"
    return str(value)


def _table(name: str, version: str, overall: dict, parts: dict[str, dict]) -> str:
    head = ("subset", "n", "balanced_acc", "detected", "false_alarm", "abstention_acc", "unknown")
    rows = [("all", overall), *parts.items()]
    lines = [f"judge {name} ({version})", "  " + "  ".join(f"{h:>16}" for h in head)]
    for label, f in rows:
        values = (label, f["n"], f["balanced_accuracy"], f["detected"], f["false_alarm"],
                  f["abstention_accuracy"], f["unknown"])
        lines.append("  " + "  ".join(f"{_fmt(v):>16}" for v in values))
    return "\n".join(lines)


@cli.command("eval")
def eval_command(
    file: Annotated[Path, typer.Argument(help="Labelled JSONL: question, answer, label, gold?, context?, kind?.")],
    judge: Annotated[list[str] | None, typer.Option("--judge", help="Judge to measure (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per judge per line.")] = False,
    model: Annotated[str | None, typer.Option(help="Catalog id of the chat model the `llm` judge asks.")] = None,
    base_url: Annotated[str | None, typer.Option(help="Override the LLM judge's base URL.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N items (e.g. for a slow LLM judge).")] = None,
    record_to: Annotated[Path | None, typer.Option("--record", help="Merge the figures into this metaeval.json.")] = None,
) -> None:
    """Meta-evaluate judges: detected, false alarms, balanced accuracy, abstention accuracy, unknown verdicts."""
    from toolkit.judges.base import DEFAULT_JUDGE, LLM_PREFIX, get_judge, judge_name
    from toolkit.judges.metaeval import LabelledSetError, evaluate, figures, load_set, record, subsets

    wanted = list(judge or [DEFAULT_JUDGE])
    if "llm" in wanted and not model:
        _fail("the llm judge needs --model CATALOG_ID (or name it llm:CATALOG_ID)")
    try:  # an LLM judge is as good as its model: it is named after it
        names = list(dict.fromkeys(judge_name(f"{LLM_PREFIX}{model}" if n == "llm" else n) for n in wanted))
    except ValueError as error:
        _fail(str(error))
    names.sort(key=lambda n: n == DEFAULT_JUDGE)  # the default judge's line comes last
    try:
        items = load_set(file)
    except LabelledSetError as error:
        _fail(str(error))
    items = items[:limit] if limit else items
    judges = {n: get_judge(n, **({"base_url": base_url} if n.startswith(LLM_PREFIX) else {})) for n in names}
    for label, verdicts in evaluate(judges, items).items():
        overall = figures([lab for _, lab, _ in items], verdicts, label)
        parts = subsets(items, verdicts, label)
        version = verdicts[0].version if verdicts else ""
        if record_to:
            record(record_to, label, version, Path(file).stem, overall, parts)
        if as_json:
            typer.echo(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v)
                                   for k, v in overall.items()}))
        else:
            typer.echo(_table(label, version, overall, parts))
