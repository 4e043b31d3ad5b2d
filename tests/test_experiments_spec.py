"""Experiment specs: the examples load, and bad specs are rejected naming file, line, field and fix."""

import pytest

from toolkit import paths
from toolkit.experiments.spec import SpecError, load_spec, parse_spec

GOOD = """\
name: t
providers:
  - local/smollm2-135m-instruct
  - id: groq/llama-3.1-8b-instant
    emulate: true
methods: [closed_book, cove_joint]
"""


EXAMPLES = sorted((paths.REPO_ROOT / "experiments").glob("*.yaml"))


@pytest.mark.parametrize(
    "path", [p for p in EXAMPLES if not p.name.startswith(("strategies", "workload"))], ids=lambda p: p.name
)
def test_example_specs_load_and_name_real_catalog_entries(path):
    from toolkit.methods import METHODS
    from toolkit.providers import load_catalog

    spec = load_spec(path)
    catalog = load_catalog()
    for provider in spec.providers:
        catalog.entry(provider.id)
    for method in spec.methods:
        METHODS.get(method.name)


@pytest.mark.parametrize("path", [p for p in EXAMPLES if p.name.startswith("strategies")], ids=lambda p: p.name)
def test_example_strategy_files_load(path):
    from toolkit.strategy_runs import load_strategy_experiment

    assert load_strategy_experiment(path).all_arms()


def test_example_workload_loads():
    from toolkit.planner.workload import load_workload

    load_workload(paths.REPO_ROOT / "experiments" / "workload.yaml")


def test_strings_become_provider_and_method_entries():
    spec = parse_spec(GOOD)
    assert [p.name for p in spec.providers] == [
        "local/smollm2-135m-instruct",
        "groq/llama-3.1-8b-instant~emulated",
    ]
    assert [m.name for m in spec.methods] == ["closed_book", "cove_joint"]
    assert len(spec.arms()) == 4
    assert parse_spec(spec.to_yaml()) == spec


def test_hash_ignores_how_it_runs_but_not_what_it_measures():
    spec = parse_spec(GOOD)
    assert parse_spec(GOOD + "concurrency: 1\n").spec_hash() == spec.spec_hash()
    budget = GOOD.replace("emulate: true", "emulate: true\n    budget: {max_requests: 3}")
    assert parse_spec(budget).spec_hash() == spec.spec_hash()
    assert parse_spec(GOOD + "seed: 7\n").spec_hash() != spec.spec_hash()
    assert parse_spec(GOOD + "sample_size: 3\n").spec_hash() != spec.spec_hash()


def test_hash_follows_the_endpoint_an_arm_calls():
    """Answers stored from one server must never be replayed as another's: the endpoint is part of the run key."""
    spec = parse_spec(GOOD)
    elsewhere = GOOD.replace("  - local/smollm2-135m-instruct", "  - id: local/smollm2-135m-instruct\n    base_url: http://127.0.0.1:9999/v1")
    assert parse_spec(elsewhere).spec_hash() != spec.spec_hash()
    other_backend = GOOD.replace("emulate: true", "emulate: true\n    emulator_backend: http://127.0.0.1:9998/v1")
    assert parse_spec(other_backend).spec_hash() != spec.spec_hash()


def test_run_identity_and_mlflow_share_one_digest_over_every_dataset_file(tmp_path):
    """Editing a JSONL dataset's side corpus must start a new run (stale answers were reused while MLflow showed a
    new digest), and the run identity uses the very digest MLflow logs."""
    from toolkit.datasets.files import dataset_digest, dataset_files, files_digest

    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "Capital of X?", "answers": ["Y"], "doc_ids": ["x"]}\n')
    side = tmp_path / "qa.corpus.jsonl"
    side.write_text('{"id": "x", "text": "The capital of X is Y."}\n')
    spec = parse_spec(GOOD + f"dataset: jsonl:{qa}\n")
    before, mlflow_before = spec.spec_hash(), dataset_digest(spec.dataset, spec.split)
    assert dataset_files(spec.dataset, spec.split) == [qa, side]
    assert mlflow_before == files_digest([qa, side])
    side.write_text('{"id": "x", "text": "The capital of X is Z."}\n')
    assert dataset_digest(spec.dataset, spec.split) != mlflow_before
    assert spec.spec_hash() != before


def test_the_builtin_corpus_documents_are_part_of_the_run_identity(tmp_path):
    from toolkit.datasets.files import dataset_files

    files = dataset_files("factbook", "dev")
    assert files[0].name == "dev.jsonl" and len(files) > 200  # the questions, then every corpus document


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace("    emulate: true", "    emulate: true\n    budgett: {max_requests: 3}"),
            ["<spec>:6:", "providers.1.budgett", "unknown key 'budgett'", "Did you mean 'budget'"],
        ),
        (GOOD + "sample_sise: 3\n", ["<spec>:7:", "unknown key 'sample_sise'", "sample_size"]),
        (GOOD + "sample_size: 0\n", ["<spec>:7:", "sample_size", "greater than or equal to 1"]),
        (GOOD + "metrics: [acuracy]\n", ["<spec>:7:", "unknown metric 'acuracy'", "Did you mean 'accuracy'"]),
        (GOOD + "judges: [offline, {name: claims, sample: many}]\n", ["<spec>:7:", "judges.1.sample"]),
        (GOOD + "name: again\n", ["<spec>:7:", "duplicate key 'name'"]),
        ("name: t\nproviders: [a\nmethods: []\n", ["<spec>:3:", "not valid YAML"]),
        ("- just\n- a list\n", ["a spec is a YAML mapping"]),
        (GOOD.replace("closed_book, cove_joint", "closed_book, closed_book"), ["listed twice", "label"]),
        ("name: t\nmethods: [rag]\n", ["providers", "Field required"]),
    ],
)
def test_bad_specs_are_rejected_with_line_numbers(text, expected):
    with pytest.raises(SpecError) as error:
        parse_spec(text)
    for part in expected:
        assert part in str(error.value), str(error.value)


def test_missing_file_points_to_the_examples(tmp_path):
    with pytest.raises(SpecError, match="experiments/quickstart.yaml"):
        load_spec(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nprovider: [local/a]\nmethods: [rag]\n")
    with pytest.raises(SpecError, match=r"bad.yaml:2: provider: unknown key"):
        load_spec(bad)


def test_arm_names_of_emulated_tiers_are_accepted_as_provider_strings():
    """Tables and panels name an emulated arm `id~emulated`; the same string in a spec means that arm."""
    spec = parse_spec(GOOD.replace("  - id: groq/llama-3.1-8b-instant\n    emulate: true", "  - groq/llama-3.1-8b-instant~emulated"))
    assert spec == parse_spec(GOOD)
    with pytest.raises(SpecError, match="unknown provider"):
        parse_spec(GOOD.replace("  - local/smollm2-135m-instruct", "  - groq/llama-9~emulated"))


def test_the_default_sample_is_large_enough_to_test():
    from toolkit.experiments.spec import ExperimentSpec
    from toolkit.metrics.stats import MIN_PAIRS

    assert ExperimentSpec.model_fields["sample_size"].default >= MIN_PAIRS
    assert parse_spec(GOOD).sample_size >= MIN_PAIRS
