"""checkov's Kubernetes policies, offline. checkov is a tool installed by the Makefile (``make test`` creates
``.venv-checkov``), never by library code: it pins many libraries that would break the project venv's
``pip check``, and installing software at run time from a validation command would be a surprise."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from toolkit import paths
from toolkit.k8s.manifests import K8sError

CHECKOV_VERSION = "3.3.30"
CHECKOV_VENV = paths.REPO_ROOT / ".venv-checkov"

# Findings accepted for every resource, with the reason; per-resource exceptions are `checkov.io/skipN`
# annotations next to the resource they excuse. Everything else fails validation.
CHECKOV_ACCEPTED = {
    "CKV_K8S_43": "images are pinned by version tag here; platform teams pin digests at release with "
    "`kustomize edit set image NAME=IMAGE@sha256:...` in their own overlay",
}


def checkov_executable() -> str:
    """``$TIERLAB_CHECKOV``, or ``.venv-checkov/bin/checkov``; a clear error naming the install step otherwise."""
    exe = os.environ.get("TIERLAB_CHECKOV") or str(CHECKOV_VENV / "bin" / "checkov")
    if not Path(exe).exists():
        raise K8sError(
            f"checkov not found at {exe}; install it with `make .venv-checkov/.installed` (checkov=="
            f"{CHECKOV_VERSION} in its own venv), set TIERLAB_CHECKOV, or run `tierlab k8s validate --no-checkov`"
        )
    return exe


def run_checkov(docs: list[dict[str, Any]]) -> list[str]:
    """Failures not in ``CHECKOV_ACCEPTED`` are problems; a run that checked nothing is one too."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "manifests.yaml"
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
        env.pop("BC_API_KEY", None)
        command = [checkov_executable(), "-f", str(path), "--framework", "kubernetes", "--skip-download"]
        command += ["--output", "json", "--quiet", "--compact", "--skip-check", ",".join(CHECKOV_ACCEPTED)]
        proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return [f"checkov failed (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()[-800:]}"]
    reports = report if isinstance(report, list) else [report]
    failed = [c for r in reports for c in (r.get("results") or {}).get("failed_checks", [])]
    if not failed and not any((r.get("summary") or {}).get("passed") for r in reports):
        return ["checkov checked nothing (no resources recognised)"]
    return [f"checkov {c['check_id']} ({c['check_name']}): {c['resource']}" for c in failed]
