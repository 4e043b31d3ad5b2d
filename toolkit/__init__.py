"""TierLab: free-tier cloud LLMs vs self-hosted vLLM on Ray Serve, with RAG and CoVe, logged to MLflow.

The public API is re-exported lazily so `import toolkit` stays cheap (no torch, vllm or mlflow on import).
"""

from toolkit.registry import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    # name -> "module:attr": the public API a notebook or script needs.
    "Question": "toolkit.records:Question",
    "Usage": "toolkit.records:Usage",
    "Step": "toolkit.records:Step",
    "Answer": "toolkit.records:Answer",
    "run_experiment": "toolkit.experiments.runner:run_experiment",
    "load_spec": "toolkit.experiments.spec:load_spec",
    "ExperimentSpec": "toolkit.experiments.spec:ExperimentSpec",
    "load_result": "toolkit.experiments.runner:load_result",
    "get_chat_model": "toolkit.providers:get_chat_model",
    "load_catalog": "toolkit.providers.catalog:load_catalog",
    "load_dataset": "toolkit.datasets:load_dataset",
    "get_retriever": "toolkit.retrieval:get_retriever",
    "RetrieverSettings": "toolkit.retrieval:RetrieverSettings",
    "get_method": "toolkit.methods:get_method",
}


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
