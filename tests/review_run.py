"""A small finished experiment logged to a real MLflow server, for the tracking and MLflow-UI browser tests.

Two arms (closed_book and cove_joint) on an emulated Groq free tier whose text comes from the emulator's built-in
echo backend: ~20 s, no model needed. A (fake) Groq key is exported and also pasted into the spec's description,
so a "no secret reaches MLflow" check has a secret to find if redaction failed.
"""

from toolkit.experiments.runner import run_experiment
from toolkit.experiments.spec import parse_spec
from toolkit.tracking import mlflow_logger

SECRET = "gsk_tierlab_fake_0123456789abcdefXYZ"
NAME = "review-e2e"
SPEC = f"""
name: {NAME}
description: "Reviewer walk-through (a key pasted by mistake must not leak: {SECRET})"
sample_size: 3
kinds: [short]
seed: 0
providers:
  - id: groq/llama-3.1-8b-instant
    emulate: true
    emulator_backend: echo
    base_url: "https://api.groq.com/openai/v1?api_key={SECRET}"
    params: {{temperature: 0, max_tokens: 24}}
methods:
  - closed_book
  - name: cove_joint
    options: {{max_verification_questions: 2}}
concurrency: 2
"""


def log_review_run(tracking_uri: str, monkeypatch, home, name: str = NAME):
    """Run and log the experiment; returns the ``ExperimentResult`` (``mlflow_run_id`` is the parent run).
    Tests sharing one MLflow server pass their own ``name``, so each counts only its own traces."""
    monkeypatch.setenv("TIERLAB_HOME", str(home))
    monkeypatch.setenv("TIERLAB_QUOTA_DIR", str(home / "quota"))
    monkeypatch.setenv("GROQ_API_KEY", SECRET)
    result = run_experiment(parse_spec(SPEC.replace(f"name: {NAME}", f"name: {name}", 1)), progress=False,
                            log=mlflow_logger(tracking_uri))
    assert not result.errors, result.errors
    return result
