"""`tierlab run` on bad input, through the real CLI in a subprocess: one clear line, exit 2, no traceback, and
nothing left behind (no run folder, no MLflow database). An arm that fails on every question exits 1.

No model server is needed: every case stops before the first model call, except the all-failed arm, which talks
to a stub server that refuses every call (a down endpoint stops the run before anything: ``test_bad_input``).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE = """\
name: {name}
dataset: {dataset}
split: {split}
sample_size: {sample}
providers:
{providers}
methods: [{method}]
{extra}"""
LOCAL = "  - id: local/smollm2-135m-instruct\n    base_url: http://127.0.0.1:1/v1\n    cache: false"


def _spec(tmp_path: Path, name: str, **fields) -> Path:
    values = {
        "name": name,
        "dataset": "factbook",
        "split": "dev",
        "sample": 1,
        "providers": LOCAL,
        "method": "closed_book",
        "extra": "",
    } | fields
    path = tmp_path / f"{name}.yaml"
    path.write_text(BASE.format(**values), encoding="utf-8")
    return path


def _run(spec: Path, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TIERLAB_HOME": str(home)}
    db = home.parent / "mlflow.db"
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "tierlab"),
            "run",
            str(spec),
            "--quiet",
            "--tracking-uri",
            f"sqlite:///{db}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _left_behind(home: Path) -> list[str]:
    runs = home / "runs"
    found = [p.name for p in runs.iterdir()] if runs.exists() else []
    return found + (["mlflow.db"] if (home.parent / "mlflow.db").exists() else [])


SPEC_CASES = {
    "unknown provider": (
        {"providers": LOCAL.replace("instruct", "instrct")},
        [":6: providers.0.id: unknown provider model", "Did you mean 'local/smollm2-135m-instruct'"],
    ),
    "unknown optional provider": (
        {"providers": LOCAL + "\n  - id: groq/llama-3.1-8b-instnt\n    optional: true"},
        [":9: providers.1.id: unknown provider model", "Did you mean 'groq/llama-3.1-8b-instant'"],
    ),
    "unknown method": ({"method": "closed_bok"}, [":9: methods.0: unknown method", "'closed_book'"]),
    "unknown metric": ({"extra": "metrics: [accuracy, acuracy]\n"}, [":10: metrics:", "'accuracy'"]),
}


@pytest.mark.parametrize("case", SPEC_CASES, ids=list(SPEC_CASES))
def test_unknown_names_fail_at_spec_load_with_line_and_did_you_mean(tmp_path, case):
    fields, expected = SPEC_CASES[case]
    home = tmp_path / "home"
    done = _run(_spec(tmp_path, "bad", **fields), home)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    for part in expected:
        assert part in done.stderr, done.stderr
    assert str(tmp_path / "bad.yaml") in done.stderr
    assert _left_behind(home) == []


DATASET_CASES = {
    "empty file": (b"", "no questions"),
    "missing field": (b'{"id": "a", "question": "Capital of France?"}\n', "field 'answers'"),
    "non-UTF-8": ('{"id": "a", "question": "Fran\xe7e?", "answers": ["x"]}\n'.encode("latin-1"), "not UTF-8"),
    "duplicate id": (
        b'{"id": "a", "question": "A?", "answers": ["x"]}\n{"id": "a", "question": "B?", "answers": ["y"]}\n',
        "duplicate id 'a'",
    ),
    "missing path": (None, "file not found"),
    "unknown format": ("jsnl", "unknown dataset loader 'jsnl'. Did you mean 'jsonl'?"),
}


@pytest.mark.parametrize("case", DATASET_CASES, ids=list(DATASET_CASES))
def test_dataset_errors_print_one_line_and_exit_2(tmp_path, case):
    content, expected = DATASET_CASES[case]
    data = tmp_path / "qa.jsonl"
    if isinstance(content, bytes):
        data.write_bytes(content)
    home = tmp_path / "home"
    loader = content if isinstance(content, str) else "jsonl"
    done = _run(_spec(tmp_path, "ds", dataset=f"{loader}:{data}", split="all"), home)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], done.stderr
    assert str(data) in lines[0] or isinstance(content, str)
    assert _left_behind(home) == []


def test_non_utf8_spec_names_file_line_and_column(tmp_path):
    spec = tmp_path / "latin.yaml"
    spec.write_bytes(
        'name: t\ndescription: "caf\xe9"\nproviders: [local/smollm2-135m-instruct]\n'.encode("latin-1")
    )
    done = _run(spec, tmp_path / "home")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{spec}:2:18: not UTF-8" in done.stderr, done.stderr


def test_an_arm_that_fails_every_question_exits_1_and_a_too_large_sample_warns(tmp_path):
    from servers import ChatServer

    data = tmp_path / "qa.jsonl"
    data.write_text('{"id": "a", "question": "Capital of France?", "answers": ["Paris"]}\n', encoding="utf-8")
    server = ChatServer()
    server.status = 401  # up, but refuses every call
    try:
        spec = _spec(tmp_path, "allfail", dataset=f"jsonl:{data}", split="all", sample=5,
                     providers=LOCAL.replace("http://127.0.0.1:1/v1", server.url))
        done = _run(spec, tmp_path / "home")
    finally:
        server.close()
    assert (
        "warning: sample_size 5 is larger than dataset" in done.stderr
        and "using all 1 questions" in done.stderr
    )
    assert "warning: 1 question is fewer than the 10 paired questions a comparison needs" in done.stderr
    assert done.returncode == 1, done.stderr
    assert "every question failed in: local/smollm2-135m-instruct | closed_book" in done.stderr
    assert "Traceback" not in done.stderr
