"""The notebooks: committed exactly as the generator writes them (no outputs), and executed headless with nbclient
against the real local model with small injected parameters (slow)."""

import json

import nbformat
import pytest

from toolkit import paths

NOTEBOOKS = paths.REPO_ROOT / "notebooks"
ORDER = ["01_quickstart.ipynb", "02_rag_vs_cove.ipynb", "03_free_tier_vs_self_hosted.ipynb", "04_review_runs.ipynb",
         "06_review_answers.ipynb"]


def _generator():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_notebooks", NOTEBOOKS / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_notebooks_match_the_generator_and_have_no_outputs():
    generator = _generator()
    built = generator.build()
    assert sorted(built) == ORDER
    for name, nb in built.items():
        committed = (NOTEBOOKS / name).read_text(encoding="utf-8")
        assert committed == generator.render(nb), f"{name} is stale: run python notebooks/build_notebooks.py"
        loaded = nbformat.reads(committed, as_version=4)
        nbformat.validate(loaded)
        code = [c for c in loaded.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), f"{name} has outputs"
        tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{name} needs exactly one cell tagged 'parameters'"
        assert "widgets" not in loaded.metadata


def inject(nb, parameters: dict):
    """Papermill-style: a cell after the ``parameters`` cell that overrides its values."""
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(index + 1, cell)
    return nb


def execute(name: str, parameters: dict, env: dict):
    from nbclient import NotebookClient

    nb = inject(nbformat.read(NOTEBOOKS / name, as_version=4), parameters)
    # Run from a scratch folder: the notebooks use no relative paths, and MLflow's SQLite store puts artifacts
    # under ./mlruns of the working directory, which must not be the repo.
    workdir = env["home"] / "cwd"
    workdir.mkdir(exist_ok=True)
    client = NotebookClient(nb, kernel_name="python3", store_widget_state=True, timeout=900,
                            resources={"metadata": {"path": str(workdir)}})
    client.execute()
    nbformat.write(nb, env["out"] / name)  # kept for inspection next to the screenshot
    return nb


def text_outputs(nb) -> str:
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            data = output.get("data", {})
            parts.append(data.get("text/plain", "") + data.get("text/html", "") + data.get("text/markdown", ""))
    return "\n".join(parts)


def widget_text(nb) -> str:
    """Every saved widget model state (HTML values, progress values …) as one JSON string."""
    return json.dumps(nb.metadata.get("widgets", {}), ensure_ascii=False)


@pytest.fixture(scope="module")
def notebook_env(local_llm_url, tmp_path_factory):
    """One TierLab home for the four notebooks (04 reviews what 01-03 logged); the kernel inherits this env."""
    home = tmp_path_factory.mktemp("nb-home")
    out = paths.REPO_ROOT / "test-artifacts" / "notebooks"
    out.mkdir(parents=True, exist_ok=True)
    mp = pytest.MonkeyPatch()
    mp.setenv("TIERLAB_HOME", str(home))
    mp.setenv("TIERLAB_LOCAL_URL", local_llm_url)
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.setenv("TRANSFORMERS_OFFLINE", "1")
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield {"url": local_llm_url, "home": home, "out": out}
    mp.undo()


LOCAL = {"id": "local/smollm2-135m-instruct", "params": {"temperature": 0, "max_tokens": 48}}


@pytest.mark.slow
def test_01_quickstart(notebook_env):
    nb = execute("01_quickstart.ipynb", {
        "sample_size": 2, "methods": ["closed_book", "cove_joint"], "providers": [LOCAL],
        "llm_url": notebook_env["url"], "run_now": True,
    }, notebook_env)
    widgets = widget_text(nb)
    assert "Finished: 4 answers in 2 arms" in widgets
    assert "up · smollm2-135m-instruct" in widgets  # the serving panel saw the model
    assert "Results: quickstart" in widgets
    assert "local/smollm2-135m-instruct | cove_joint" in text_outputs(nb)


@pytest.mark.slow
def test_02_rag_vs_cove(notebook_env):
    nb = execute("02_rag_vs_cove.ipynb", {
        "sample_size": 2, "methods": ["rag", "rag_cove"], "max_tokens": 48, "max_verification_questions": 2,
        "llm_url": notebook_env["url"],
    }, notebook_env)
    outputs = text_outputs(nb)
    assert "hallucination_rate" in outputs and "entity_hallucination_rate" in outputs
    assert "image/png" in json.dumps([c.get("outputs") for c in nb.cells])  # the hallucination plot
    assert "too few to test" in outputs and "p_value" not in outputs  # 2 paired questions: said, not "None"
    assert "Finished: 4 answers in 2 arms" in widget_text(nb)


@pytest.mark.slow
def test_03_free_tier_vs_self_hosted(notebook_env):
    nb = execute("03_free_tier_vs_self_hosted.ipynb", {
        "sample_size": 2, "methods": ["closed_book"],
        "providers": ["local/smollm2-135m-instruct", "groq/llama-3.1-8b-instant~emulated"],
        "llm_url": notebook_env["url"],
    }, notebook_env)
    outputs = text_outputs(nb)
    assert "groq/llama-3.1-8b-instant~emulated" in outputs and "shadow_cost_per_correct_usd" in outputs
    assert "Finished: 4 answers in 2 arms" in widget_text(nb)


@pytest.mark.slow
def test_04_review_runs(notebook_env):
    nb = execute("04_review_runs.ipynb", {"experiment": None, "compare_latest": 2}, notebook_env)
    outputs = text_outputs(nb)
    assert "3 experiment run(s)" in outputs  # logged by 01-03 in the same home
    assert "usd_per_1k_questions" in outputs and "answered_by" in outputs  # the reviewer's overview of the newest run
    assert "answers incorrect" in outputs  # traces with their verdicts, read back from MLflow
    widgets = widget_text(nb)
    assert "arms from 2 run(s)" in widgets and "p (Holm)" in widgets
    assert "Results: " in widgets


@pytest.mark.slow
def test_06_label_a_random_sample_then_corrected_rates(notebook_env):
    """A run of 20 real answers, then the notebook: the pane on the run's random sample, 10 labels per arm
    given as the notebook's ``labels`` (the test stands in for a reviewer reading each answer against its gold
    answer), the corrected rates, and the marks written to MLflow."""
    from toolkit.experiments.runner import run_experiment
    from toolkit.experiments.spec import ExperimentSpec
    from toolkit.review import Review
    from toolkit.tracking import human, mlflow_logger

    spec = ExperimentSpec.model_validate({
        "name": "review-notebook", "sample_size": 20, "seed": 0, "kinds": ["short", "numeric"],
        "providers": [{**LOCAL, "base_url": notebook_env["url"], "params": {"temperature": 0, "max_tokens": 24}}],
        "methods": ["closed_book"], "concurrency": 2,
    })
    result = run_experiment(spec, progress=False, log=mlflow_logger())
    assert len(result.records) == 20 and result.mlflow_run_id
    review = Review(result)
    sample = review.draw_sample(10)
    labels = []
    for arm, ids in sample.items():
        for question_id in ids:
            record = review.records[(arm, question_id)]
            said = record.answer.text.lower()
            supported = any(gold.lower() in said for gold in record.question.answers)
            labels.append((arm, question_id, "supported" if supported else "hallucinated"))
    nb = execute("06_review_answers.ipynb", {"run": result.run_key, "sample_size": 10, "labels": labels,
                                             "reviewer": "notebook-test"}, notebook_env)
    outputs = text_outputs(nb)
    assert f"reviewing run {result.run_key}" in outputs
    assert "10 of 10 labelled" in outputs
    assert "| judge only (uncorrected) |" in outputs and "| 10 of 10 |" in outputs
    assert "0 mark(s) written to MLflow; 0 read back" in outputs  # each mark went to MLflow as it was made
    widgets = widget_text(nb)
    assert "Hallucinated" in widgets and "question 1 of 10" in widgets
    again = Review(result)
    rates = again.rates()
    assert rates.arms[0].labels == 10 and rates.arms[0].ppi_rate is not None
    uri, run_id = again.tracking()
    traces = human.answer_traces(run_id, tracking_uri=uri)
    humans = [a for q in sample[rates.arms[0].arm] for a in traces[(rates.arms[0].arm, q)].info.assessments
              if a.source.source_type == "HUMAN"]
    assert len(humans) == 10 and {a.source.source_id for a in humans} == {"notebook-test"}
