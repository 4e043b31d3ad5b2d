"""The figures MLflow, the results panel and the notebooks show, read the way a reviewer reads them: every arm named
by its short label in a legend that overlaps nothing, arms on the same point said so, cost in $ per 1,000
questions. Built from a summary of 8 arms where 6 share one point (what the quickstart's 8 arms looked like)."""

import itertools

import pytest

from toolkit.experiments.plots import hallucination_figure, pareto_figure, pareto_points
from toolkit.experiments.results import ArmSummary, ExperimentResult
from toolkit.experiments.spec import parse_spec
from toolkit.metrics.stats import Interval

SPEC = parse_spec("""
name: quickstart
providers:
  - local/smollm2-135m-instruct
  - {id: groq/llama-3.1-8b-instant, emulate: true}
methods: [closed_book, rag, cove_joint, rag_cove]
""")


def _interval(value: float) -> Interval:
    return Interval(value=value, low=max(0.0, value - 0.3), high=min(1.0, value + 0.3), n=4, method="wilson")


@pytest.fixture
def result() -> ExperimentResult:
    arms = []
    for i, (provider, method) in enumerate(SPEC.arms()):
        apart = i >= 6  # six arms share accuracy 0.25 and cost 0 (a free self-hosted tier), two stand apart
        arms.append(ArmSummary(
            arm=f"{provider.name} | {method.arm_name}", provider=provider.name, method=method.arm_name, planned=4,
            answered=4, metrics={"accuracy": _interval(0.75 if apart else 0.25),
                                 "hallucination_rate": _interval(0.5)},
            cost={"cost_usd": 0.0, "shadow_cost_usd": 0.00003 * (i - 5) if apart else 0.0,
                  "selfhosted_cost_usd": 0.0}))
    return ExperimentResult(spec=SPEC, run_key="quickstart-1", run_dir="/tmp/q", arms=tuple(arms), comparisons=(),
                            records=())


def _texts(figure) -> list:
    """Every visible, non-empty text of a drawn figure with its extent in display pixels."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    hidden = set()  # tick labels beyond the axes' limits are not drawn
    for ax in figure.axes:
        for axis, (low, high) in ((ax.xaxis, sorted(ax.get_xlim())), (ax.yaxis, sorted(ax.get_ylim()))):
            hidden |= {id(t.label1) for t in axis.get_major_ticks() if not low <= t.get_loc() <= high}
    from matplotlib.text import Text

    texts = [t for t in figure.findobj(Text)
             if t.get_visible() and t.get_text().strip() and id(t) not in hidden]
    return [(t.get_text(), t.get_window_extent(renderer)) for t in texts]


def _assert_readable(figure) -> list[str]:
    """No two texts overlap and all lie inside the figure; returns the texts."""
    import matplotlib.pyplot as plt

    texts = _texts(figure)
    width, height = figure.bbox.width, figure.bbox.height
    for text, box in texts:
        assert box.x0 >= -1 and box.y0 >= -1 and box.x1 <= width + 1 and box.y1 <= height + 1, text
    for (a, box_a), (b, box_b) in itertools.combinations(texts, 2):
        assert not box_a.overlaps(box_b), f"{a!r} overlaps {b!r}"
    plt.close(figure)
    return [t for t, _ in texts]


def test_accuracy_vs_cost_names_every_arm_once_without_overlap(result):
    points = pareto_points(result)
    assert [p["label"] for p in points][:2] == ["closed_book · local", "rag · local"]
    assert [p["shared"] for p in points] == [6] * 6 + [1, 1]
    assert points[6]["cost"] == pytest.approx(0.00003 / 4 * 1000)  # $ per 1,000 questions
    texts = _assert_readable(pareto_figure(result))
    for point in points:
        assert sum(point["label"] in t for t in texts) == 1  # in the legend, not annotated at its point
    assert "×6" in texts  # six arms on one point, said so
    assert any("per 1,000 questions" in t for t in texts)
    assert not any("µ" in t or "e-0" in t for t in texts)


def test_hallucination_by_method_is_readable(result):
    texts = _assert_readable(hallucination_figure(result))
    assert {"closed_book", "rag", "cove_joint", "rag_cove", "local", "groq~emu"} <= set(texts)
