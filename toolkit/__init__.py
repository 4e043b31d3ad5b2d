"""TierLab: free-tier cloud LLMs vs self-hosted vLLM on Ray Serve, with RAG and CoVe, logged to MLflow.

The public API is re-exported lazily so `import toolkit` stays cheap (no torch, vllm or mlflow on import).
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    # name -> "module:attr"; filled in as areas land.
    "Question": "toolkit.records:Question",
    "Usage": "toolkit.records:Usage",
    "Step": "toolkit.records:Step",
    "Answer": "toolkit.records:Answer",
    "run_experiment": "toolkit.experiments.runner:run_experiment",
    "load_spec": "toolkit.experiments.spec:load_spec",
    "ExperimentSpec": "toolkit.experiments.spec:ExperimentSpec",
}


def __getattr__(name: str):
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'toolkit' has no attribute {name!r}")
    module, attr = target.split(":")
    return getattr(import_module(module), attr)


def __dir__():
    return sorted([*globals(), *_EXPORTS])
