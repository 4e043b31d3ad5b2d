"""Tables rendered from card files into the README between markers, so the README never drifts from the cards."""

from pathlib import Path

import typer


def show_or_write(readme: Path | None, block: str, start: str, end: str, what: str) -> None:
    """The CLI side of ``tierlab judge card`` / ``tierlab metrics card``: print ``block`` (markers included), or put
    it in place of the ``start`` ... ``end`` block of ``readme``; a README without both markers is left untouched
    (exit 2, naming them)."""
    if readme is None:
        typer.echo(block)
        return
    text = readme.read_text(encoding="utf-8")
    if start not in text or end not in text:
        typer.echo(f"error: {readme} has no {start} ... {end} block to rewrite", err=True)
        raise typer.Exit(2)
    head, rest = text.split(start, 1)
    readme.write_text(head + block + rest.split(end, 1)[1], encoding="utf-8")
    typer.echo(f"rewrote the {what} in {readme}")
