"""`tierlab judge eval [SET] [--judge NAME ...] [--json] [--limit N] [--record]` and `tierlab judge train`.

``SET`` is a labelled JSONL file or a registered set (``halueval``, ``halueval:develop``); without it, the card sets
(the real-answer test split and ``halueval:card``). Prints a table per judge and set (overall and per setting, with
95% intervals), or with ``--json`` one JSON object per judge and set. ``--record`` writes the figures on the card
sets into the judge card file. Bad input exits with code 2 and one message naming the file, the line and the field.
"""

import json
from pathlib import Path
from typing import Annotated

import typer

cli = typer.Typer(help="Hallucination judges: measure them on labelled answers, retrain the offline one.",
                  no_args_is_help=True)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _fmt(value, ci=None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
    return str(value)


def _table(name: str, version: str, card_set: str, entry: dict) -> str:
    head = ("setting", "n", "balanced_acc [95% CI]", "detected", "false_alarm [95% CI]", "abstention", "unknown")
    widths = (16, 6, 24, 9, 24, 10, 7)
    lines = [f"judge {name} ({version}) on {card_set}",
             "  " + " ".join(f"{h:>{w}}" for h, w in zip(head, widths, strict=True))]
    for label, f in (("all", entry["overall"]), *entry["settings"].items()):
        values = (label, f["n"], _fmt(f["balanced_accuracy"], f["balanced_accuracy_ci"]), _fmt(f["detected"]),
                  _fmt(f["false_alarm"], f["false_alarm_ci"]), _fmt(f["abstention_accuracy"]), f["unknown"])
        lines.append("  " + " ".join(f"{_fmt(v):>{w}}" for v, w in zip(values, widths, strict=True)))
    return "\n".join(lines)


def _card_set(name: str) -> str | None:
    """The card set ``name`` is (by set name, registered name or path), or None."""
    from toolkit.judges.card import CARD_SETS

    for key, source in CARD_SETS.items():
        if name in (key, source) or (Path(name).exists() and Path(name).resolve() == Path(source).resolve()):
            return key
    return None


@cli.command("eval")
def eval_command(
    labelled: Annotated[str | None, typer.Argument(
        metavar="[SET]", help="Labelled JSONL (question, answer, label, gold?, context?, kind?) or a registered set "
        "(halueval, halueval:develop, halueval:card). Default: the card sets.")] = None,
    judge: Annotated[list[str] | None, typer.Option("--judge", help="Judge to measure (repeatable): offline, "
                                                    "claims, llm:<catalog id>.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per judge and set.")] = False,
    model: Annotated[str | None, typer.Option(help="Catalog id for `--judge llm` (same as llm:<id>).")] = None,
    base_url: Annotated[str | None, typer.Option(help="Override the LLM judge's base URL.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N items of each set (a slow judge).")] = None,
    record: Annotated[bool, typer.Option("--record", help="Write the figures on the card sets to the card file.")] = False,
    card_file: Annotated[Path | None, typer.Option(help="Card file to write (default: the packaged one).")] = None,
) -> None:
    """Measure judges: balanced accuracy, detected, false alarms, abstention accuracy, unknown, with 95% CIs."""
    from toolkit.judges.base import DEFAULT_JUDGE, LLM_PREFIX, get_judge, judge_name
    from toolkit.judges.card import CARD_FILE, CARD_SETS, measure, record_card
    from toolkit.judges.metaeval import LabelledSetError, evaluate, load_set

    wanted = list(judge or [DEFAULT_JUDGE])
    if "llm" in wanted and not model:
        _fail("the llm judge needs --model CATALOG_ID (or name it llm:CATALOG_ID)")
    try:  # an LLM judge is as good as its model: it is named after it
        names = list(dict.fromkeys(judge_name(f"{LLM_PREFIX}{model}" if n == "llm" else n) for n in wanted))
    except ValueError as error:
        _fail(str(error))
    names.sort(key=lambda n: n == DEFAULT_JUDGE)  # the default judge's lines come last
    sets = [labelled] if labelled else [s for s in CARD_SETS.values() if ":" in s or Path(s).exists()]
    if record and any(_card_set(s) is None for s in sets):
        _fail(f"only the card sets go on a judge card ({', '.join(CARD_SETS.values())}); {labelled} is measured, "
              "not recorded (the templated rag_corpus/judge/ set is a regression test, on no card)")
    judges = {n: get_judge(n, **({"base_url": base_url} if n.startswith(LLM_PREFIX) else {})) for n in names}
    for name in sets:
        try:
            items = load_set(name)
        except LabelledSetError as error:
            _fail(str(error))
        items = items[:limit] if limit else items
        shown = _card_set(name) or name
        for label, verdicts in evaluate(judges, items).items():
            entry = measure(items, verdicts)
            version = verdicts[0].version if verdicts else ""
            if record:
                record_card(label, version, shown, entry, limit, card_file or CARD_FILE)
            if as_json:
                typer.echo(json.dumps({"judge": label, "version": version, "set": shown, **entry["overall"],
                                       "settings": entry["settings"]}))
            else:
                typer.echo(_table(label, version, shown, entry))


@cli.command("card")
def card_command(
    readme: Annotated[Path | None, typer.Option(help="Rewrite the judge table of this README from the card file.")] = None,
) -> None:
    """Print every judge's card as a markdown table (the README's), or write it into a README."""
    from toolkit.judges.card import README_END, README_START, readme_block
    from toolkit.readme import show_or_write

    show_or_write(readme, readme_block(), README_START, README_END, "judge table")


@cli.command("train")
def train_command(
    seed: Annotated[int, typer.Option(help="Seed of the folds and the trees.")] = 0,
) -> None:
    """Retrain the offline judge from HaluEval's develop part and the real-answer dev split (never a test split)."""
    from toolkit.judges.train import main

    typer.echo(json.dumps(main(seed=seed), indent=2))
