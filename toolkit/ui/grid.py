"""Results grid: questions × arms coloured pass / fail / hallucinated (with a legend), filters, drill-down on click,
export.

The table is an itables ``ITable`` (DataTables as an anywidget: a search box, sorting by a click on a column name,
sideways scrolling to every arm's column, row selection synced back to Python) rather than hand-built HTML. What a test checks is pure: ``outcome``, ``grid_frame`` (the
rows a filter keeps) and ``export`` (the files written); the widget only shows them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import ipywidgets as w

from toolkit.ui.html import esc

Mode = Literal["all", "failures", "disagreements"]
FORMATS = ("csv", "json", "parquet")
COLOURS = {"pass": "#d8f0d8", "fail": "#fbe3c4", "hallucinated": "#f6c9c9", "unknown": "#eeeeee", "no answer": "#ffffff"}
MEANINGS = {
    "pass": "correct, and the judge found nothing unsupported",
    "fail": "wrong or incomplete, but nothing the judge calls invented",
    "hallucinated": "the judge found a claim neither gold nor the shown context supports",
    "unknown": "neither the judge nor a score could decide",
    "no answer": "this arm did not answer the question",
}
TABLE_OPTIONS = {
    # DataTables drops the search box of a table that fits on one page; a reviewer still searches questions there
    "layout": {"topStart": "search", "topEnd": "pageLength", "bottomStart": "info", "bottomEnd": "paging"},
    "text_in_header_can_be_selected": False,  # a click on a column name sorts, not only the small arrow
    "scrollX": True,  # every arm column stays reachable, however many arms
}
ID_COLUMNS = ("question_id", "kind", "question", "gold")


def outcome(row: dict[str, Any]) -> str:
    """One answer's cell: ``hallucinated`` (the judge says so) wins over ``fail`` (accuracy below 1), then ``pass``.

    Accuracy alone would colour a confident wrong list as a mere miss; hallucination alone would call an honest
    "I don't know" a pass. ``unknown``: neither score exists (the judge could not decide, no accuracy metric).
    """
    if row.get("hallucination") == 1.0:
        return "hallucinated"
    accuracy = row.get("accuracy")
    if accuracy is None or accuracy != accuracy:
        return "unknown" if row.get("hallucination") is None else "pass"
    return "pass" if accuracy >= 1.0 else "fail"


def grid_frame(result: Any, mode: Mode = "all"):
    """One row per question, one column per arm holding its outcome; ``failures`` keeps questions some arm did not
    pass, ``disagreements`` those on which the arms' outcomes differ."""
    import pandas as pd

    from toolkit.experiments.results import question_row

    arms = [a.arm for a in result.arms]
    rows: dict[str, dict[str, Any]] = {}
    for record in result.records:
        row = question_row(record, result.spec.metrics)
        entry = rows.setdefault(row["question_id"], {k: row[k] for k in ID_COLUMNS} | dict.fromkeys(arms, "no answer"))
        entry[row["arm"]] = outcome(row)
    frame = pd.DataFrame(list(rows.values()), columns=[*ID_COLUMNS, *arms])
    cells = frame[arms]
    if mode == "failures":
        frame = frame[(cells != "pass").any(axis=1)]
    elif mode == "disagreements":
        frame = frame[cells.nunique(axis=1) > 1]
    elif mode != "all":
        raise ValueError(f"unknown grid filter {mode!r}; use one of all, failures, disagreements")
    return frame.reset_index(drop=True)


def export(result: Any, folder: str | Path, fmt: str = "csv", mode: Mode = "all") -> list[Path]:
    """Write the grid (as filtered), the per-answer table and the per-arm summary to ``folder`` in ``fmt``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    stem = result.run_key  # the spec's name, made safe, and its hash
    frames = {"grid": grid_frame(result, mode), "answers": result.questions_frame(), "summary": result.summary_frame()}
    written = []
    for name, frame in frames.items():
        path = folder / f"{stem}-{name}{'-' + mode if name == 'grid' and mode != 'all' else ''}.{fmt}"
        if fmt == "csv":
            frame.to_csv(path, index=False)
        elif fmt == "json":
            frame.to_json(path, orient="records", indent=1)
        else:
            frame.to_parquet(path, index=False)
        written.append(path)
    return written


def styled(frame, arms: list[str], labels: dict[str, str] | None = None):
    """Colour the arm columns by outcome and name them by their short labels; every cell escaped (model text must
    not inject markup)."""
    labels = {arm: (labels or {}).get(arm, arm) for arm in arms}
    return frame.rename(columns=labels).style.format(escape="html").map(
        lambda value: f"background-color: {COLOURS.get(value, '#ffffff')}", subset=list(labels.values())
    ).hide(axis="index")


def legend_html() -> str:
    """What each cell colour means."""
    chips = "".join(
        f"<span title='{esc(meaning)}' style='background:{COLOURS[name]};border:1px solid #ccc;padding:1px 6px;"
        f"margin-right:6px;cursor:help'>{esc(name)}</span>"
        for name, meaning in MEANINGS.items()
    )
    return f"<div style='margin:4px 0'><small>{chips} hover a colour for its meaning; a click on a row shows every " \
           "arm's answer</small></div>"


class ResultsGrid:
    """Filter buttons, the ITable, the drill-down of the selected question (every arm) and the export row."""

    def __init__(self, result: Any, drilldown_html):
        from itables.widget import ITable


        self.result, self._drilldown_html = result, drilldown_html
        self.arms = [a.arm for a in result.arms]
        self.labels = result.arm_labels()
        self.mode = w.ToggleButtons(options=[("all", "all"), ("failures only", "failures"),
                                             ("disagreements only", "disagreements")], value="all")
        self.table = ITable(select={"style": "single"}, selected_rows=[], classes="display compact", **TABLE_OPTIONS)
        self.legend = w.HTML(legend_html())
        self.count = w.HTML()
        self.detail = w.HTML("<small>select a row for every arm's answer and its steps</small>")
        self.format = w.Dropdown(options=FORMATS, value="csv", description="format", layout=w.Layout(width="160px"))
        self.folder = w.Text(value="tierlab-exports", description="folder")
        self.export_button = w.Button(description="Export", icon="download")
        self.export_status = w.HTML()
        self.mode.observe(lambda _: self.show(), names="value")
        self.table.observe(lambda _: self._selected(), names="selected_rows")
        self.export_button.on_click(lambda _: self.export())
        self.frame = None
        self.show()
        self.widget = w.VBox([
            w.HBox([self.mode, self.count]), self.legend, self.table, self.detail,
            w.HBox([self.format, self.folder, self.export_button]), self.export_status,
        ])

    def show(self) -> None:
        self.frame = grid_frame(self.result, self.mode.value)
        self.table.update(styled(self.frame, self.arms, self.labels), selected_rows=[], allow_html=True,
                          **TABLE_OPTIONS)  # escaped in styled()
        self.count.value = f"<small>{len(self.frame)} question(s)</small>"
        self.detail.value = ""

    def select(self, row: int) -> str:
        """What clicking a row does: show every arm's drill-down for that question; returns the HTML."""
        self.table.selected_rows = [row]
        return self.detail.value

    def _selected(self) -> None:
        rows = self.table.selected_rows
        if not rows or self.frame is None or rows[0] >= len(self.frame):
            return
        question_id = self.frame.iloc[rows[0]]["question_id"]
        parts = [
            f"<div style='border-left:3px solid {COLOURS.get(self.frame.iloc[rows[0]][r.arm], '#ccc')};"
            f"padding-left:6px;margin:6px 0'><b>{esc(self.labels.get(r.arm, r.arm))}</b><br>{self._drilldown_html(r)}</div>"
            for r in self.result.records if r.question.id == question_id
        ]
        self.detail.value = "".join(parts)

    def export(self) -> list[Path]:
        try:
            written = export(self.result, self.folder.value, self.format.value, self.mode.value)
        except (OSError, ValueError, ImportError) as error:
            self.export_status.value = f"<span style='color:#b00'>not exported: {esc(error)}</span>"
            raise
        self.export_status.value = "exported: " + ", ".join(f"<code>{esc(p)}</code>" for p in written)
        return written
