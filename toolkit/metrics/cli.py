"""`tierlab metrics eval [FILE.jsonl ...] [--record] [--json] [--show N]`: the scorer card.

Scores every labelled real answer with the ``accuracy`` metric and prints its agreement with the readers' labels per
question kind (n, agreement, Wilson 95% interval). Without files it reads the shipped real-answer set
(``rag_corpus/real_answers/dev.jsonl`` and ``test.jsonl``). ``--record`` merges the figures into the committed card
(``scorer_card.json``) that the README and MLflow show. Bad input exits with code 2 and one message naming the file,
the line and the field.
"""

import json
from pathlib import Path
from typing import Annotated

import typer

cli = typer.Typer(help="Scorers: measure them against labelled real answers.", no_args_is_help=True)


def _table(split: str, figures: dict[str, dict]) -> str:
    lines = [f"accuracy scorer vs readers, {split}", f"  {'kind':<14}{'n':>6}{'agree':>8}{'agreement':>11}  95% (Wilson)"]
    for kind, f in figures.items():
        lines.append(f"  {kind:<14}{f['n']:>6}{f['agree']:>8}{f['agreement']:>11.3f}  [{f['low']:.3f}, {f['high']:.3f}]")
    return "\n".join(lines)


@cli.command("eval")
def eval_command(
    files: Annotated[list[Path] | None, typer.Argument(
        help="Labelled real-answer JSONL files (default: rag_corpus/real_answers/dev.jsonl and test.jsonl).")] = None,
    record_card: Annotated[bool, typer.Option("--record", help="Merge the figures into the committed scorer card.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file.")] = False,
    show: Annotated[int, typer.Option(min=0, help="Print up to N disagreements per file (question, answer, labels).")] = 0,
    card: Annotated[Path | None, typer.Option(help="The card file --record writes (default: the committed one).")] = None,
) -> None:
    """Agreement of the accuracy scorer with readers' labels, per question kind, with n and Wilson intervals."""
    from toolkit.metrics.card import (
        REAL_ANSWERS_DIR,
        LabelledAnswersError,
        agreement,
        load_labelled_answers,
        record,
    )

    paths = files or [REAL_ANSWERS_DIR / "dev.jsonl", REAL_ANSWERS_DIR / "test.jsonl"]
    try:
        loaded = [(path, load_labelled_answers(path)) for path in paths]
    except LabelledAnswersError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    for path, items in loaded:
        figures, misses = agreement(items)
        if record_card:
            record(path.stem, figures, card)
        if as_json:
            typer.echo(json.dumps({"split": path.stem, "kinds": figures}))
        else:
            typer.echo(_table(path.stem, figures))
        for item, said in misses[:show]:
            typer.echo(f"  - {item.id} ({item.question.kind}) labelled {'correct' if item.correct else 'incorrect'}, "
                       f"scored {'correct' if said else 'incorrect'}: {item.question.question} -> "
                       f"{json.dumps(item.answer)[:200]}")


@cli.command("card")
def card_command(
    readme: Annotated[Path | None, typer.Option(help="Rewrite the scorer table of this README from the card.")] = None,
) -> None:
    """Print the scorer card as a markdown table, or rewrite the README's table from it."""
    from toolkit.metrics.card import README_END, README_START, readme_block
    from toolkit.readme import show_or_write

    show_or_write(readme, readme_block(), README_START, README_END, "scorer table")
