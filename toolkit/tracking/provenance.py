"""What produced a run: code (git commit, TierLab version, who ran it from where), data (the dataset as an MLflow
dataset input with the digest of its files) and, per arm, the endpoint that answered.

``MlflowClient.create_run`` does not add MLflow's context tags (``mlflow.user``, ``mlflow.source.name``, git
commit) by itself — only the fluent ``mlflow.start_run`` resolves them — so they are resolved here explicitly. The
git commit is the one of the TierLab code that ran (the ``toolkit`` package's checkout), not of whatever script
or test runner happened to be the entry point.
"""

import json
import urllib.request
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import toolkit
from toolkit.experiments.spec import ExperimentSpec, ProviderSpec, emulator_backend_url

DATASET_CONTEXT = "evaluation"


def context_tags(extra: dict[str, str]) -> dict[str, str]:
    """MLflow's standard context tags (user, source name/type, git) + TierLab's version and code commit + ``extra``."""
    from mlflow.tracking.context.registry import resolve_tags
    from mlflow.utils.mlflow_tags import MLFLOW_GIT_BRANCH, MLFLOW_GIT_COMMIT

    tags = resolve_tags({"tierlab.version": toolkit.__version__, **extra})
    code = code_version()
    if code.get("commit"):
        tags[MLFLOW_GIT_COMMIT] = code["commit"]
        tags["tierlab.git.dirty"] = str(code["dirty"]).lower()
        if code.get("branch"):
            tags[MLFLOW_GIT_BRANCH] = code["branch"]
    return {k: str(v) for k, v in tags.items() if v is not None}


def code_version() -> dict:
    """Commit, branch and dirty flag of the checkout the ``toolkit`` package runs from ({} when not a git checkout,
    e.g. an installed wheel: then ``tierlab.version`` is what identifies the code)."""
    try:
        from git import InvalidGitRepositoryError, NoSuchPathError, Repo

        repo = Repo(Path(toolkit.__file__).parent, search_parent_directories=True)
    except (ImportError, InvalidGitRepositoryError, NoSuchPathError):
        return {}
    try:
        branch = None if repo.head.is_detached else repo.active_branch.name
        return {"commit": repo.head.commit.hexsha, "branch": branch, "dirty": repo.is_dirty(untracked_files=False)}
    except (ValueError, TypeError):  # an empty repository has no HEAD commit
        return {}


def dataset_input(spec: ExperimentSpec, questions_frame):
    """The spec's dataset as an ``mlflow.entities.DatasetInput``: name, split (as the input's context tag), the
    digest of the dataset's files, its source path, and the schema/size of the questions actually asked."""
    import mlflow.data
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    from toolkit.datasets.files import dataset_files, files_digest

    files = dataset_files(spec.dataset, spec.split)
    prefix, _, path = spec.dataset.partition(":")
    short = Path(path).stem if path else prefix
    source = str(files[0]) if files else spec.dataset
    with warnings.catch_warnings():  # MLflow 3.17 registers its local-file source twice and warns about it
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        dataset = mlflow.data.from_pandas(
            questions_frame, source=source, targets="gold", name=f"{short}-{spec.split}",
            digest=files_digest(files)[:32],
        )
    tags = [
        InputTag(MLFLOW_DATASET_CONTEXT, spec.split),
        InputTag("tierlab.dataset", spec.dataset),
        InputTag("tierlab.sample", f"{spec.sample_size or 'all'} seed={spec.seed} kinds={list(spec.kinds or [])}"),
    ]
    return DatasetInput(dataset._to_mlflow_entity(), tags=tags)


def dataset_params(spec: ExperimentSpec) -> dict:
    from toolkit.datasets.files import dataset_files, files_digest

    files = dataset_files(spec.dataset, spec.split)
    return {
        "dataset.name": spec.dataset,
        "dataset.split": spec.split,
        "dataset.path": str(files[0]) if files else "",
        "dataset.files": len(files),
        "dataset.sha256": files_digest(files),
    }


def host(url: str | None) -> str:
    """``https://user:pw@api.groq.com:443/openai/v1?key=…`` -> ``api.groq.com:443``: never a path, query or login."""
    if not url:
        return ""
    parts = urlsplit(url)
    if not parts.hostname:
        return ""
    return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname


def served_model(base_url: str, timeout_s: float = 2.0) -> str | None:
    """The model id an OpenAI-compatible server reports on ``/models`` (first entry), or None when unreachable.
    TierLab's own local server wants its API key (sent to loopback only, like every other TierLab client)."""
    from toolkit.security import serve_auth_headers

    request = urllib.request.Request(f"{base_url.rstrip('/')}/models", headers=serve_auth_headers(base_url))
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            return str(json.loads(answer.read())["data"][0]["id"])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


def endpoint(provider: ProviderSpec) -> dict:
    """Where an arm's questions went: host of the base URL, whether it was the emulator, and for an emulated arm
    which backend really wrote the text (its host and the model id it serves, asked at logging time)."""
    from toolkit.providers import load_catalog

    entry = load_catalog().entry(provider.id)
    try:
        url = provider.base_url or entry.resolved_base_url()
    except ValueError:
        url = provider.base_url or ""
    info = {
        "endpoint.host": host(url),
        "endpoint.emulated": provider.emulate,
        "endpoint.requested_model": entry.model,
        "endpoint.kind": entry.kind,
    }
    if provider.emulate:
        backend = emulator_backend_url(provider)
        echo = backend == "echo"
        info |= {
            "endpoint.host": "127.0.0.1 (free-tier emulator)",
            "endpoint.emulates_host": host(url),
            "endpoint.backend_host": "" if echo else host(backend),
            "endpoint.backend_model": "echo (built-in test backend)"
            if echo
            else served_model(backend) or "unknown (backend unreachable at logging time)",
        }
    elif entry.kind == "self-hosted" and url:
        info["endpoint.served_model"] = served_model(url) or "unknown (server unreachable at logging time)"
    return info


def answering_model(provider: ProviderSpec, info: dict, response_models: list[str]) -> str:
    """The model that really wrote an arm's text, one value for every kind of arm (the ``answered_by`` param, so
    MLflow's compare views show one column): an emulated arm's backend model, a self-hosted server's served model,
    else the model the answers named (or the catalog's model when there were none)."""
    if provider.emulate:
        return info["endpoint.backend_model"]
    if "endpoint.served_model" in info:
        return info["endpoint.served_model"]
    return ", ".join(response_models) or info["endpoint.requested_model"]


def answered_by(provider: ProviderSpec, info: dict, model: str) -> str:
    """One line for the run description and a tag: who really wrote this arm's answers."""
    if provider.emulate:
        backend = f"{model} at {info['endpoint.backend_host']}" if info["endpoint.backend_host"] else model
        return f"{backend}, behind an emulator of {provider.id}'s free tier (not the real {info['endpoint.emulates_host']})"
    return f"{model} at {info['endpoint.host']}"
