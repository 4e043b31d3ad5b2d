"""Shared fixtures. Servers are real and bound to 127.0.0.1; each is started once per test session and stopped
by PID. Set ``TIERLAB_TEST_LLM_URL`` to reuse an already running OpenAI-compatible model server (dev loop)."""

import os

import pytest


@pytest.fixture(scope="session")
def local_llm_url(tmp_path_factory) -> str:
    """Base URL (``http://127.0.0.1:PORT/v1``) of the real local model served by vLLM on Ray Serve.

    The served model id is ``smollm2-135m-instruct``.
    """
    url = os.environ.get("TIERLAB_TEST_LLM_URL")
    if url:
        yield url
        return
    from toolkit import serve

    handle = serve.up(profile="cpu-smollm2", port=8010, state_dir=tmp_path_factory.mktemp("serve"))
    try:
        yield handle.base_url
    finally:
        serve.down(state_dir=handle.state_dir)
