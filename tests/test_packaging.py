"""The project's set-up files agree with each other: conda users get what pip users get."""

import re
import tomllib

import yaml

from toolkit.paths import REPO_ROOT


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "python=3.11" in conda
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    # Same requirements, same pins: a version changed in one file must change in the other.
    assert sorted(r for r in pip if not r.startswith("-")) == sorted(wanted)
    assert {_name(r) for r in pip if not r.startswith("-")} == {_name(r) for r in wanted}


def test_every_top_level_folder_says_what_lives_there():
    for folder in ["notebooks", "toolkit", "serving", "k8s", "rag_corpus", "tests", "benchmarks", "experiments"]:
        assert (REPO_ROOT / folder / "README.md").is_file(), f"{folder}/README.md is missing"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (REPO_ROOT / "README.md").read_text()
    assert (REPO_ROOT / ".ci" / "run").read_text().strip().endswith("make test")


def test_wheel_carries_the_corpus_and_works_outside_the_repo(tmp_path):
    """`python -m build` gives a wheel whose corpus, question sets and prompts load from any directory."""
    import os
    import subprocess
    import sys
    import zipfile

    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--sdist", "--no-isolation", "--outdir", str(dist), str(REPO_ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(dist.glob("tierlab-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "rag_corpus/questions/dev.jsonl" in names and "rag_corpus/docs/fr.md" in names
    assert any(n.startswith("toolkit/methods/prompts/") and n.endswith(".yaml") for n in names), "prompts missing"
    assert "toolkit/examples/quickstart.yaml" in names  # `tierlab demo` and ui.experiment_panel("quickstart")
    assert next(dist.glob("tierlab-*.tar.gz"))

    target, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)], check=True
    )
    probe = (
        "import toolkit, rag_corpus\n"
        "from toolkit.datasets import load_dataset\n"
        "from toolkit.methods.prompts import load_prompts\n"
        "d = load_dataset('factbook', 'dev')\n"
        "from toolkit.examples import resolve_spec, example_path\n"
        "print(toolkit.__file__, rag_corpus.ROOT, len(d.questions), len(d.documents), bool(load_prompts('answer')),\n"
        "      resolve_spec('quickstart').name, example_path('quickstart').is_symlink())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=elsewhere, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0].startswith(str(target)) and out[1].startswith(str(target)), out  # the installed copy, not the repo
    assert int(out[2]) > 0 and int(out[3]) > 200 and out[4] == "True"
    assert out[5:] == ["quickstart", "False"], out  # the example spec is a real file in the wheel, not a dangling link
    demo = subprocess.run(
        [sys.executable, "-c", "from toolkit.cli import app; app()", "demo", "--help"],
        cwd=elsewhere, env=env, capture_output=True, text=True,
    )
    assert demo.returncode == 0 and "example name" in demo.stdout, demo.stderr[-2000:]
