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
