"""MLflow logging: the only package that imports mlflow.

``mlflow_logger()`` is the ``log`` hook callers pass to ``run_experiment`` (``once``). One parent run per experiment and one child run per arm (``runs``), with provenance (``provenance``: context
tags, code version, the dataset input, the endpoint each arm called), JSON params without secrets (``params``),
a compact set of grouped metric names with intervals as params (``metrics``), one trace per answer with assessments (``traces``) and per-question tables
(``tables``); ``reading`` gets them back. The default store is the local SQLite file from ``paths.mlflow_uri()``;
point ``tracking_uri`` (or ``$MLFLOW_TRACKING_URI``) at a real ``mlflow server`` to share runs.
"""

from toolkit.registry import lazy_exports

_EXPORTS = {
    "log_experiment": "toolkit.tracking.runs:log_experiment",
    "mlflow_logger": "toolkit.tracking.once:mlflow_logger",
    "arm_run_name": "toolkit.tracking.runs:arm_run_name",
    "DIGEST_TAG": "toolkit.tracking.runs:DIGEST_TAG",
    "load_runs": "toolkit.tracking.reading:load_runs",
    "search_traces": "toolkit.tracking.reading:search_traces",
    "run_url": "toolkit.tracking.reading:run_url",
    "log_to_run": "toolkit.tracking.reading:log_to_run",
    "load_question_table": "toolkit.tracking.reading:load_question_table",
    "arm_overview": "toolkit.tracking.reading:arm_overview",
    "answer_traces": "toolkit.tracking.reading:answer_traces",
    "metric_key": "toolkit.tracking.metrics:metric_key",
    "arm_intervals": "toolkit.tracking.reading:arm_intervals",
    "MAX_TRACES_PER_ARM": "toolkit.tracking.traces:MAX_TRACES_PER_ARM",
}
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
__all__ = sorted(_EXPORTS)
