"""Power section of the Experiment panel: before a run, the questions (and free-tier days) a comparison needs.

A thin layer over ``toolkit.planner.sample_size.plan_power`` (the same numbers as ``tierlab power``): the widgets hold
its inputs, the button shows its sentences and tables. A value of 0 means "solve for it" (difference or questions)
or "measure it / use the default" (discordant rate, SD).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as w

from toolkit.ui import choices
from toolkit.ui.html import esc, table


class PowerSection:
    """Difference ↔ questions at the chosen power, for the arms of ``spec()`` (the panel's current spec)."""

    def __init__(self, spec: Callable[[], Any], *, runs_root: Path | None = None):
        self._spec, self.runs_root = spec, runs_root
        style = {"description_width": "110px"}
        self.effect = w.FloatText(value=0.1, step=0.01, description="difference", style=style,
                                  tooltip="difference to detect (0.1 = 10 points); 0 = what the questions can detect")
        self.questions = w.IntText(value=0, description="questions", style=style,
                                   tooltip="paired questions; 0 = how many the difference needs")
        self.metric = w.Dropdown(options=list(dict.fromkeys(["accuracy", *choices.metric_names(), "hallucination"])),
                                 value="accuracy", description="metric", style=style)
        self.discordant = w.FloatText(value=0.0, step=0.05, description="discordant rate", style=style,
                                      tooltip="binary metrics: share of questions exactly one arm gets right; "
                                              "0 = measured on stored answers, else 0.3")
        self.sd = w.FloatText(value=0.0, step=0.05, description="SD of diffs", style=style,
                              tooltip="continuous metrics: SD of per-question differences; 0 = measured, else 0.3")
        self.alpha = w.FloatText(value=0.05, step=0.01, description="alpha", style=style)
        self.target = w.FloatText(value=0.8, step=0.05, description="power", style=style)
        self.use_stored = w.Checkbox(value=True, description="measure on this spec's stored answers (if any)",
                                     indent=False)
        self.button = w.Button(description="Compute power", icon="calculator")
        self.button.on_click(lambda _: self.compute())
        self.output = w.HTML()
        self.plan = None
        self.widget = w.VBox([
            w.HTML("<b>Power before a run</b> <small>(exact McNemar for binary metrics, paired permutation "
                   "otherwise; days from each provider's free-tier limits)</small>"),
            w.HBox([w.VBox([self.effect, self.questions, self.metric]),
                    w.VBox([self.discordant, self.sd, self.alpha, self.target])]),
            w.HBox([self.button, self.use_stored]), self.output,
        ])

    def compute(self):
        """Run ``plan_power`` on the widgets' values; bad input is shown in red, not raised into the callback."""
        from toolkit.planner.sample_size import (
            ARM_HEADERS,
            arm_rows,
            plan_power,
            power_sentences,
            provider_headers,
            provider_rows,
            stored_records,
        )

        try:
            spec = self._spec()
            records = stored_records(spec, self.runs_root) if self.use_stored.value else []
            self.plan = plan_power(
                spec, effect=self.effect.value or None, questions=self.questions.value or None,
                metric=self.metric.value, discordant=self.discordant.value or None, sd=self.sd.value or None,
                alpha=self.alpha.value, target=self.target.value, records=records,
            )
        except (ValueError, KeyError) as error:
            self.plan = None
            self.output.value = f"<span style='color:#b00'>{esc(error)}</span>"
            return None
        plan = self.plan
        self.output.value = (
            "".join(f"<div>{esc(line)}</div>" for line in power_sentences(plan))
            + table(provider_headers(plan), provider_rows(plan)) + table(ARM_HEADERS, arm_rows(plan))
        )
        return plan
