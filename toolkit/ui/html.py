"""Tiny HTML helpers shared by the panels (tables and intervals), escaped so model output cannot inject markup."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def interval(value: Any, low: Any = None, high: Any = None, digits: int = 2, n: Any = None) -> str:
    """``0.50 [0.25, 0.75] n=12`` — a metric with its confidence interval and sample size, or ``–``."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if hasattr(value, "low"):  # an Interval
        value, low, high, n = value.value, value.low, value.high, value.n
    if low is None or high is None:
        return fmt(float(value), digits)
    size = "" if n is None or (isinstance(n, float) and n != n) else f" n={int(n)}"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]{size}"


def count(value: Any) -> str:
    """A call or answer count as an integer (summaries carry them as floats): ``3``, not ``3.00``."""
    return "–" if value is None or (isinstance(value, float) and value != value) else f"{round(value):,}"


def money(value: Any) -> str:
    """Dollars with two significant digits below a cent (``$0.00012``), cents above (``$1.25``), ``$0`` for zero."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if value == 0:
        return "$0"
    if abs(value) >= 0.01:
        return f"${value:,.2f}"
    digits = 1 - math.floor(math.log10(abs(value)))
    return f"${value:.{digits}f}"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], css_class: str = "tierlab-table",
          titles: Mapping[str, str] | None = None, nowrap: bool = False) -> str:
    """An HTML table; cells are escaped text. ``titles`` explain columns on hover (header -> text); explained
    headers are underlined with dots, the usual sign that hovering tells more. ``nowrap`` keeps each cell on one
    line (``0.25 [0.05, 0.70] n=4`` broken over four lines is hard to read; put the table in ``scrolling``)."""
    titles = titles or {}
    cell = "padding:2px 8px" + (";white-space:nowrap" if nowrap else "")

    def head(header: str) -> str:
        style = "text-align:left;padding:2px 8px;vertical-align:bottom"
        if header in titles:
            return (f"<th style='{style};cursor:help' title='{esc(titles[header])}'>"
                    f"<span style='border-bottom:1px dotted #888'>{esc(header)}</span></th>")
        return f"<th style='{style}'>{esc(header)}</th>"

    body = "".join(
        "<tr>" + "".join(f"<td style='{cell}'>{esc(value)}</td>" for value in row) + "</tr>" for row in rows
    )
    return f"<table class='{css_class}'><thead><tr>{''.join(head(h) for h in headers)}</tr></thead><tbody>{body}</tbody></table>"


def scrolling(html_text: str) -> str:
    """``html_text`` in a box as wide as the panel that scrolls sideways instead of overflowing it."""
    return f"<div style='overflow-x:auto;max-width:100%'>{html_text}</div>"
