"""Notebook panels (the only package that imports ipywidgets).

``experiment_panel`` (set up, run, watch, cancel), ``results_view`` (CIs, plots, paired tests, drill-down, MLflow
link), ``compare_panel`` (MLflow runs side by side with paired tests) and ``serving_panel`` (local Ray Serve
endpoint). State lives in plain dataclasses (``state.py``) so the panels are testable without a browser.
Imports are lazy: ``import toolkit.ui`` does not import ipywidgets, mlflow or the runner.
"""

from __future__ import annotations

from typing import Any


def experiment_panel(spec: Any = None, **overrides: Any):
    """An ``ExperimentPanel`` for a spec (object, YAML path or example name; default ``quickstart``)."""
    from toolkit.ui.experiment import ExperimentPanel

    return ExperimentPanel(spec, **overrides)


def results_view(result: Any, **options: Any):
    """A ``ResultsView`` of an ``ExperimentResult``, or of a stored run (spec path or run folder name)."""
    from toolkit.ui.results import ResultsView

    if isinstance(result, str):
        from toolkit.experiments.runner import load_result

        result = load_result(result)
    return ResultsView(result, **options)


def compare_panel(experiment: str | None = None, **options: Any):
    """A ``ComparePanel`` over the MLflow runs of ``experiment`` (all experiments when None)."""
    from toolkit.ui.compare import ComparePanel

    return ComparePanel(experiment, **options)


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

    from toolkit.ui.results import figure_png

    return Image(figure_png(fig))


__all__ = ["compare_panel", "experiment_panel", "figure", "results_view", "serving_panel"]
