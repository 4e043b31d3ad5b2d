"""Tables and artifacts: what a reviewer downloads or compares row by row.

MLflow's table view compares runs' tables *by name*, so the per-question table has one name per level: every arm
run logs ``questions.json`` (its own rows, ``question_id`` first, so questions line up across arms) and the parent
logs the long table of all arms as ``questions_all_arms.json`` (with an ``arm`` column).
"""

import json

import yaml

from toolkit.experiments.plots import hallucination_figure, pareto_figure
from toolkit.experiments.report import summary_markdown
from toolkit.experiments.results import ExperimentResult
from toolkit.tracking.metrics import test_rows
from toolkit.tracking.params import redact, scrub

ARM_TABLE = "questions.json"
PARENT_TABLE = "questions_all_arms.json"
_FIRST = ["question_id", "arm", "method", "provider", "kind", "question", "gold", "answer"]


def _ordered(frame):
    first = [c for c in _FIRST if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]]


def _scrubbed(frame, secrets):
    return frame.map(lambda v: scrub(v, secrets) if isinstance(v, str) else v)


def questions_frame(result: ExperimentResult):
    """All arms' answers, one row per (arm, question)."""
    return _ordered(result.questions_frame())


def dataset_frame(result: ExperimentResult):
    """The questions asked (one row each, with gold): the rows behind the run's dataset input."""
    import pandas as pd

    seen = {}
    for record in result.records:
        q = record.question
        seen.setdefault(q.id, {"question_id": q.id, "kind": q.kind, "question": q.question, "gold": "; ".join(q.answers)})
    return pd.DataFrame(list(seen.values()), columns=["question_id", "kind", "question", "gold"])


def log_arm_table(client, run_id: str, rows: list[dict], secrets) -> None:
    import pandas as pd

    client.log_table(run_id, _scrubbed(_ordered(pd.DataFrame(rows)), secrets), ARM_TABLE)


def spec_texts(result: ExperimentResult) -> dict[str, str]:
    """The spec as written (defaults left out) and as run (every default filled in), with secret fields masked,
    plus the providers that were skipped and why."""
    spec = result.spec
    authored = redact(spec.model_dump(mode="json", exclude_defaults=True))
    resolved = redact(spec.model_dump(mode="json"))
    texts = {
        "spec.yaml": yaml.safe_dump(authored, sort_keys=False),
        "spec_resolved.yaml": yaml.safe_dump(resolved, sort_keys=False),
    }
    stopped = {a.arm: a.stopped for a in result.arms if a.stopped}
    skipped_arms = {f"{name} | {m.arm_name}": why for name, why in result.skipped.items() for m in spec.methods}
    if skipped_arms or stopped:
        texts["skipped.json"] = json.dumps(
            {"skipped_providers": result.skipped, "skipped_arms": skipped_arms, "stopped_arms": stopped}, indent=2
        )
    return texts


def log_parent_artifacts(client, run_id: str, result: ExperimentResult, questions, secrets) -> None:
    import matplotlib.pyplot as plt
    import pandas as pd

    for name, text in spec_texts(result).items():
        client.log_text(run_id, scrub(text, secrets), name)
    client.log_text(run_id, scrub(summary_markdown(result), secrets), "summary.md")
    client.log_table(run_id, _scrubbed(questions, secrets), PARENT_TABLE)
    if result.comparisons:
        client.log_table(run_id, pd.DataFrame(test_rows(result.comparisons)), "paired_tests.json")
    for name, make in (
        ("plots/accuracy_vs_cost.png", pareto_figure),
        ("plots/hallucination_by_method.png", hallucination_figure),
    ):
        figure = make(result)
        client.log_figure(run_id, figure, name)
        plt.close(figure)
