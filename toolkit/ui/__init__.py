"""Notebook panels (the only package that imports ipywidgets).

``experiment_panel`` (set up, run, watch, cancel), ``results_view`` (CIs, plots, paired tests, drill-down, MLflow
link), ``review_pane`` (two arms side by side, human marks, corrected hallucination rates), ``compare_panel`` (MLflow runs side by side with paired tests) and ``serving_panel`` (local Ray Serve
endpoint). State lives in plain dataclasses (``state.py``) so the panels are testable without a browser.
Imports are lazy: ``import toolkit.ui`` does not import ipywidgets, mlflow or the runner.
"""

from __future__ import annotations

import logging
import os
from typing import Any

QUIET_LOGGERS = ("mlflow", "alembic", "httpx", "chromadb", "ray", "urllib3")


def quiet() -> None:
    """Keep cell output to what the panels show: no MLflow/alembic INFO lines, no artifact-download bars.

    Why here and not in the library: CLI users may want those logs; in a notebook they bury the panel. Warnings
    and errors still show. Called by every panel; ``TIERLAB_VERBOSE=1`` turns it off.
    """
    if os.environ.get("TIERLAB_VERBOSE"):
        return
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # read when mlflow is imported (it resets its loggers)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def experiment_panel(spec: Any = None, **overrides: Any):
    """An ``ExperimentPanel`` for a spec (object, YAML path or example name; default ``quickstart``)."""
    from toolkit.ui.experiment import ExperimentPanel

    quiet()
    return ExperimentPanel(spec, **overrides)


def results_view(result: Any, **options: Any):
    """A ``ResultsView`` of an ``ExperimentResult``, or of a stored run (spec path or run folder name)."""
    from toolkit.ui.results import ResultsView

    quiet()
    if isinstance(result, str):
        from toolkit.experiments.runner import load_result

        result = load_result(result)
    return ResultsView(result, **options)


def compare_panel(experiment: str | None = None, **options: Any):
    """A ``ComparePanel`` over the MLflow runs of ``experiment`` (all experiments when None)."""
    from toolkit.ui.compare import ComparePanel

    quiet()
    return ComparePanel(experiment, **options)


def review_pane(run: Any, *, reviewer: str = "", sample_size: int = 30, tracking_uri: str | None = None):
    """A ``ReviewPane`` (two arms side by side, human marks, a random sample, corrected rates) over a stored run:
    an ``ExperimentResult``, a run folder name or a spec path."""
    from toolkit.review import Review
    from toolkit.ui.review_pane import ReviewPane

    quiet()
    options = {"reviewer": reviewer, "source": "notebook", "tracking_uri": tracking_uri}
    review = Review.open(run, **options) if isinstance(run, str) else Review(run, **options)
    return ReviewPane(review, sample_size=sample_size)


def serving_panel(base_url: str = "http://127.0.0.1:8000/v1", **options: Any):
    """A ``ServingPanel`` for the local Ray Serve endpoint at ``base_url``."""
    from toolkit.ui.serving import ServingPanel

    return ServingPanel(base_url, **options)


def figure(fig: Any):
    """A matplotlib figure as a PNG for notebook display, closed afterwards.

    Why: the report plots select the Agg backend (they also run in CLI and MLflow logging), after which a bare
    Figure no longer renders inline in Jupyter.
    """
    from IPython.display import Image

    from toolkit.ui.plots import figure_png

    return Image(figure_png(fig))


__all__ = ["compare_panel", "experiment_panel", "figure", "quiet", "results_view", "review_pane", "serving_panel"]
