"""The results grid without a browser: outcomes per cell, the failures/disagreements filters, the drill-down of a
selected row and the export files. Two real arms on two local servers: one answers every question with its gold
answer but one, the other gets a second question wrong too, so each filter has a known answer."""

import json

import pandas as pd
import pytest
from test_ui import GoldServer, home, small_spec  # noqa: F401 - fixtures

from toolkit.experiments.components import Components
from toolkit.experiments.runner import run_experiment
from toolkit.ui.grid import grid_frame, outcome


class WrongOn(GoldServer):
    """Gold answers, except a confident wrong one for the questions in ``wrong``."""

    def __init__(self, wrong: set[str]):
        self.wrong = wrong
        super().__init__()

    def reply(self, prompt: str) -> str:
        return "Atlantis" if any(text in prompt for text in self.wrong) else super().reply(prompt)


def two_arm_spec(good_url: str, bad_url: str):
    local = "local/smollm2-135m-instruct"
    return small_spec(good_url, sample_size=4, methods=["closed_book"], name="grid-test", providers=[
        {"id": local, "label": "good", "base_url": good_url, "params": {"max_tokens": 32}},
        {"id": local, "label": "bad", "base_url": bad_url, "params": {"max_tokens": 32}},
    ])


@pytest.fixture
def run(home):  # noqa: F811
    questions = Components().questions(two_arm_spec("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1"))
    answerable = [q for q in questions if q.answers][:2]
    assert len(answerable) == 2, "the dev sample needs two answerable questions"
    good, bad = WrongOn({answerable[0].question}), WrongOn({answerable[0].question, answerable[1].question})
    try:
        yield run_experiment(two_arm_spec(good.url, bad.url)), answerable
    finally:
        good.close()
        bad.close()


def test_outcome_prefers_hallucinated_over_fail():
    assert outcome({"accuracy": 1.0, "hallucination": 0.0}) == "pass"
    assert outcome({"accuracy": 0.0, "hallucination": 0.0}) == "fail"  # e.g. an honest "I don't know"
    assert outcome({"accuracy": 0.0, "hallucination": 1.0}) == "hallucinated"
    assert outcome({"accuracy": None, "hallucination": None}) == "unknown"


def test_filters_keep_failures_and_disagreements(run):
    result, (both_wrong, bad_only) = run
    arms = [a.arm for a in result.arms]
    everything = grid_frame(result)
    assert len(everything) == 4 and list(everything.columns[-2:]) == arms
    failures = grid_frame(result, "failures")
    assert set(failures["question_id"]) >= {both_wrong.id, bad_only.id}
    row = failures.set_index("question_id").loc[bad_only.id]
    assert row[arms[0]] == "pass" and row[arms[1]] in ("fail", "hallucinated")
    disagreements = grid_frame(result, "disagreements")
    assert bad_only.id in set(disagreements["question_id"])
    assert both_wrong.id not in set(disagreements["question_id"])  # both arms wrong: a failure, not a disagreement
    with pytest.raises(ValueError, match="failures"):
        grid_frame(result, "broken")


def test_grid_widget_filters_selects_and_exports(run, tmp_path):
    from toolkit.ui.results import ResultsView

    result, (both_wrong, bad_only) = run
    view = ResultsView(result, plots=False)
    grid = view.grid
    grid.mode.value = "failures"
    assert len(grid.table._df.data) == len(grid_frame(result, "failures")) == len(grid.frame)
    table = json.dumps(grid.table._dt_args, ensure_ascii=False)
    assert "#f6c9c9" in table or "#fbe3c4" in table  # the wrong answers' cells are coloured
    assert "#d8f0d8" in table  # and the passes
    # a search box even when every question fits on one page, a click on a column name sorts, every arm reachable
    assert "search" in grid.table._dt_args["layout"].values()
    assert "text_in_header_can_be_selected" not in grid.table._dt_args  # itables' "sort from the arrow only" is off
    assert grid.table._dt_args["scrollX"]
    assert all(label in table for label in grid.labels.values()) and " | " not in table.split("<tbody")[0]
    assert all(name in grid.legend.value for name in ("pass", "fail", "hallucinated", "no answer"))
    index = list(grid.frame["question_id"]).index(bad_only.id)
    html = grid.select(index)
    assert html.count("Final answer:") == 2 and "Atlantis" in html  # both arms' drill-down for that question

    grid.folder.value = str(tmp_path / "out")
    for fmt in ("csv", "json", "parquet"):
        grid.format.value = fmt
        written = grid.export()
        assert [p.name.split("-")[-1] for p in written] == [f"failures.{fmt}", f"answers.{fmt}", f"summary.{fmt}"]
    frame = pd.read_parquet(tmp_path / "out" / written[0].name)
    assert set(frame["question_id"]) == set(grid.frame["question_id"])
    answers = json.loads(next((tmp_path / "out").glob("*answers.json")).read_text())
    assert len(answers) == 8 and {"arm", "answer", "cached"} <= set(answers[0])
    assert "exported" in grid.export_status.value


def test_plots_open_as_images_and_turn_interactive_on_request(run):
    import time

    from toolkit.experiments.plots import hallucination_bars, pareto_points
    from toolkit.experiments.spec import arm_labels
    from toolkit.ui.results import ResultsView

    result, _ = run
    points = pareto_points(result)
    labels = arm_labels(result.spec)
    assert [p["label"] for p in points] == [labels[a.arm] for a in result.arms]
    good, bad = points
    assert good["accuracy"] > bad["accuracy"] and good["front"] and good["n"] == 4
    assert {b["arm"] for b in hallucination_bars(result)} == {a.arm for a in result.arms}

    view = ResultsView(result)
    started = time.process_time()  # CPU time: the shared test machine's load stretches wall time
    pareto, hallucination = view.show_plots()  # what opening the Plots tab does
    assert time.process_time() - started < 3
    assert pareto.value[:4] == hallucination.value[:4] == b"\x89PNG"
    pareto, hallucination = view.plots.interactive()
    names = [trace.name for trace in pareto.data]
    assert names[: len(result.arms)] == [labels[a.arm] for a in result.arms]  # one legend toggle per arm
    assert names[len(result.arms):] in ([], ["Pareto front"])
    assert "n=4" in pareto.data[0].hovertemplate and "per 1,000 questions" in pareto.data[0].hovertemplate
    assert pareto.layout.legend.orientation == "h"  # below the plot, not half its width
    assert hallucination.layout.barmode == "group" and view.plots.button.disabled
