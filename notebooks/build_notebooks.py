"""Writes the TierLab notebooks from the cell sources below (``python notebooks/build_notebooks.py``).

Why a generator: notebooks stay thin, reviewable as plain Python in one place, and committed without outputs;
``tests/test_notebooks.py`` checks the committed files match this script and executes every notebook.
Each notebook has one cell tagged ``parameters`` (papermill convention) with small defaults that tests override.
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """\
import os

if llm_url:  # the catalog's local entry and the free-tier emulators read this
    os.environ["TIERLAB_LOCAL_URL"] = llm_url
from toolkit import ui"""


def params(text: str):
    cell = new_code_cell(text)
    cell.metadata["tags"] = ["parameters"]
    return cell


NOTEBOOKS = {
    "01_quickstart.ipynb": [
        new_markdown_cell(
            "# TierLab quickstart\n\n"
            "Runs the default experiment (`experiments/quickstart.yaml`): the local SmolLM2-135M served by vLLM on Ray "
            "Serve, and the same model behind an *emulated* Groq free tier (its limits, headers and 429s), with "
            "closed-book, RAG and Chain-of-Verification answers on a small Factbook sample. Everything runs offline.\n\n"
            "Start the local model first if it is not up (`tierlab serve up`, about a minute); the Serving panel "
            "below shows its state. Change the settings in the Experiment panel and press **Run**, or leave "
            "`run_now = True` to run from code. Results are logged to MLflow: the results view's **Open in MLflow** "
            "button starts `mlflow ui` on 127.0.0.1 for the store the run went to and opens the run."
        ),
        params(
            'spec = "quickstart"  # an example name in experiments/ or a path to your spec YAML\n'
            "sample_size = 4\n"
            "methods = None  # e.g. [\"closed_book\", \"cove_joint\"]; None = as in the spec\n"
            "providers = None  # e.g. [\"local/smollm2-135m-instruct\"]; None = as in the spec\n"
            "llm_url = None  # the local model's /v1 URL; None = $TIERLAB_LOCAL_URL or http://127.0.0.1:8000/v1\n"
            "run_now = True  # False: press Run in the panel instead"
        ),
        new_code_cell(SETUP + '\n\nui.serving_panel(os.environ.get("TIERLAB_LOCAL_URL", "http://127.0.0.1:8000/v1"))'),
        new_code_cell(
            "settings = {\"sample_size\": sample_size, \"methods\": methods, \"providers\": providers}\n"
            "panel = ui.experiment_panel(spec, **{k: v for k, v in settings.items() if v is not None})\n"
            "panel"
        ),
        new_markdown_cell(
            "Run from code (the panel shows progress, the live table and the results view either way). `await` keeps "
            "the kernel free while the run goes on: **Cancel** in the panel (or interrupting the kernel) stops it "
            "and keeps what was answered. A rerun of the same spec continues where it stopped and repeats no model call."
        ),
        new_code_cell(
            "if run_now:\n"
            "    result = await panel.run()\n"
            "    columns = [\"arm\", \"answered\", \"accuracy\", \"accuracy_low\", \"accuracy_high\", \"hallucination_rate\",\n"
            "               \"latency_p50_s\", \"shadow_cost_per_correct_usd\"]\n"
            "    display(result.summary_frame()[columns])"
        ),
    ],
    "02_rag_vs_cove.ipynb": [
        new_markdown_cell(
            "# RAG vs Chain-of-Verification on list questions\n\n"
            "List questions (\"Which countries border X?\") are where the CoVe paper measured hallucination: a model "
            "lists plausible but wrong entities. This notebook compares closed-book, RAG, CoVe and RAG+CoVe on the "
            "Factbook list questions: hallucination rate (answers, and listed entities, not supported by the gold "
            "answer or the retrieved context), list precision, with confidence intervals (n beside each) and calibrated paired tests."
        ),
        params(
            "sample_size = 6\n"
            "methods = [\"closed_book\", \"rag\", \"cove_factored\", \"rag_cove\"]\n"
            "provider = \"local/smollm2-135m-instruct\"\n"
            "max_tokens = 96\n"
            "max_verification_questions = 3\n"
            "# List questions ask for borders and official languages: index only those sections, since embedding is\n"
            "# the slow part on a CPU (None = every section; a new setting means a new collection, ingested once).\n"
            "retriever_sections = [\"Geography\", \"People and Society\"]\n"
            "llm_url = None  # None = $TIERLAB_LOCAL_URL or http://127.0.0.1:8000/v1"
        ),
        new_code_cell(
            SETUP + "\nfrom toolkit.experiments.spec import ExperimentSpec\n\n"
            "cove = {\"max_verification_questions\": max_verification_questions}\n"
            "spec = ExperimentSpec(\n"
            "    name=\"rag_vs_cove\",\n"
            "    description=\"Hallucination by method on Factbook list questions.\",\n"
            "    kinds=(\"list\",),\n"
            "    sample_size=sample_size,\n"
            "    providers=[{\"id\": provider, \"params\": {\"temperature\": 0, \"max_tokens\": max_tokens}}],\n"
            "    methods=[{\"name\": m, \"options\": cove if \"cove\" in m else {}} for m in methods],\n"
            "    metrics=[\"accuracy\", \"list_precision\", \"list_recall\", \"list_f1\"],\n"
            "    retriever={\"k\": 4, \"sections\": retriever_sections},  # every document, these sections\n"
            ")\n"
            "panel = ui.experiment_panel(spec)\n"
            "panel"
        ),
        new_code_cell("result = await panel.run()  # Cancel in the panel stops it; the answers so far are kept"),
        new_code_cell(
            "from toolkit.experiments.plots import hallucination_figure\n\n"
            "frame = result.summary_frame()\n"
            "display(frame[[\"method\", \"answered\", \"hallucination_rate\", \"hallucination_rate_low\", \"hallucination_rate_high\",\n"
            "               \"entity_hallucination_rate\", \"list_precision\", \"list_precision_low\", \"list_precision_high\"]])\n"
            "ui.figure(hallucination_figure(result))"
        ),
        new_markdown_cell(
            "Paired tests on the same questions (arm A − arm B). Below 10 paired questions a test cannot tell arms "
            "apart, and the table says \"too few to test\" instead of a p-value:"
        ),
        new_code_cell("result.paired_frame([\"hallucination\", \"list_precision\"])"),
    ],
    "03_free_tier_vs_self_hosted.ipynb": [
        new_markdown_cell(
            "# Free tiers vs self-hosted\n\n"
            "The same questions through the self-hosted model (vLLM on Ray Serve) and through free tiers — emulated "
            "here (the provider's real limits, headers and 429s, text from the local model), real where an API key "
            "is set. Compared on accuracy, hallucination, p50/p95 latency, 429s and **cost per correct answer** "
            "(actual $, paid-tier shadow $, self-hosted $)."
        ),
        params(
            "sample_size = 6\n"
            "methods = [\"closed_book\", \"rag\"]\n"
            "providers = [\"local/smollm2-135m-instruct\", \"groq/llama-3.1-8b-instant~emulated\",\n"
            "             \"cerebras/llama3.1-8b~emulated\"]\n"
            "llm_url = None  # None = $TIERLAB_LOCAL_URL or http://127.0.0.1:8000/v1"
        ),
        new_code_cell(
            SETUP + "\n\n"
            "panel = ui.experiment_panel(\"free_tier_vs_self_hosted\", sample_size=sample_size, methods=methods,\n"
            "                            providers=providers)\n"
            "panel"
        ),
        new_code_cell("result = await panel.run()  # Cancel in the panel stops it; the answers so far are kept"),
        new_code_cell(
            "frame = result.summary_frame()\n"
            "display(frame[[\"provider\", \"method\", \"answered\", \"accuracy\", \"hallucination_rate\", \"latency_p50_s\",\n"
            "               \"latency_p95_s\", \"rate_limited\", \"cost_usd\", \"shadow_cost_per_correct_usd\",\n"
            "               \"selfhosted_cost_per_correct_usd\"]])"
        ),
        new_code_cell("from toolkit.experiments.plots import pareto_figure\n\nui.figure(pareto_figure(result))"),
    ],
    "04_review_runs.ipynb": [
        new_markdown_cell(
            "# Review runs in MLflow\n\n"
            "A reviewer's four questions, answered from what MLflow holds (no model calls): which arm is best, at what "
            "cost, is the difference significant, and what exactly produced it. Set `MLFLOW_TRACKING_URI` (or "
            "`tracking_uri` below) to review runs on a shared tracking server. The same answers in the MLflow UI: "
            "README, *Reviewing runs in the MLflow UI*."
        ),
        params(
            "experiment = None  # an experiment name, e.g. \"quickstart\"; None = all\n"
            "tracking_uri = None  # None = $MLFLOW_TRACKING_URI or the local SQLite store\n"
            "compare_latest = 2  # compare the newest N runs right away"
        ),
        new_code_cell(
            "from toolkit import tracking, ui\n\n"
            "runs = tracking.load_runs(experiment, tracking_uri=tracking_uri, kind=\"experiment\")\n"
            "print(f\"{len(runs)} experiment run(s)\" + (\"\" if len(runs) else \": run notebooks/01_quickstart.ipynb first\"))\n"
            "runs[[c for c in (\"run_id\", \"start_time\", \"tags.mlflow.runName\", \"params.methods\", \"metrics.usage/answers\")\n"
            "      if c in runs]].head(10)"
        ),
        new_markdown_cell(
            "## The newest run: best arm, cost, significance, provenance\n\n"
            "One row per arm, cheapest first: accuracy with its interval, hallucination rate, the combined cost per "
            "question (charged or shadow price, plus self-hosted time) and per correct answer, the paired tests that "
            "were significant (only those with enough questions to test), and who really wrote the answers."
        ),
        new_code_cell(
            "newest = runs.sort_values(\"start_time\").iloc[-1] if len(runs) else None\n"
            "if newest is not None:\n"
            "    print(\"open in MLflow:\", tracking.run_url(newest[\"run_id\"], tracking_uri=tracking_uri))\n"
            "    display(tracking.arm_overview(newest[\"run_id\"], tracking_uri=tracking_uri))"
        ),
        new_markdown_cell(
            "## Which answers were wrong\n\n"
            "Every answer is a trace with the judge's verdict and the accuracy as feedback; in the UI filter the Traces "
            "tab by the `supported` / `correct` assessments (True is good) or the `verdict` tag."
        ),
        new_code_cell(
            "if newest is not None:\n"
            "    arms = tracking.load_runs(parent_run_id=newest[\"run_id\"], tracking_uri=tracking_uri)\n"
            "    for _, arm in arms.iterrows():\n"
            "        traces = tracking.answer_traces(arm[\"run_id\"], tracking_uri=tracking_uri)\n"
            "        wrong = traces[traces[\"correct\"] == \"false\"] if len(traces) else traces\n"
            "        print(f\"{arm['tags.mlflow.runName']}: {len(wrong)} of {len(traces)} answers incorrect\")\n"
            "        display(wrong.head(5))"
        ),
        new_markdown_cell("## Several runs side by side\n\nThe compare panel re-tests arms across runs on the questions they share:"),
        new_code_cell(
            "compare = ui.compare_panel(experiment, tracking_uri=tracking_uri)\n"
            "latest = [value for _, value in compare.runs_select.options[:compare_latest]]\n"
            "if latest:\n"
            "    compare.compare(latest)\n"
            "compare"
        ),
        new_markdown_cell("The newest run in full (answers come from the local run store, no model calls):"),
        new_code_cell(
            "if newest is not None and \"tags.tierlab.run_key\" in runs:\n"
            "    display(ui.results_view(newest[\"tags.tierlab.run_key\"]))"
        ),
    ],
    "06_review_answers.ipynb": [
        new_markdown_cell(
            "# Review answers: human marks and corrected hallucination rates\n\n"
            "No judge is perfect, so a hallucination rate is only as good as its judge. Here a reviewer compares two "
            "arms question by question (the question, the gold answer, the chunks the prompt showed, CoVe's "
            "verification questions and answers, the judges' verdicts) and marks answers **Correct / Incorrect** and "
            "**Supported / Hallucinated / Abstained**. In *random sample* mode the pane draws, per arm, the seeded "
            "random sample that prediction-powered inference needs and shows how much of it is labelled; TierLab "
            "then reports each arm's judge-only rate **and** the prediction-powered rate with its 95% interval "
            "(valid whatever the judge's quality; at least 10 labels per arm, 30 recommended).\n\n"
            "Keys: click into the *keys* box, then `c`/`x` correct/incorrect, `s`/`h`/`a` supported/hallucinated/"
            "abstained for the left arm (Shift for the right arm), `n`/`p` next/previous. Marks are stored with the "
            "run (a kernel restart loses none) and written to MLflow as HUMAN assessments on the answer's trace; "
            "feedback added in the MLflow UI on those traces comes back with **Sync with MLflow**."
        ),
        params(
            "run = None  # a run folder name (`tierlab report` lists them) or a spec path; None = the newest stored run\n"
            "reviewer = \"\"  # your name, stored with every mark\n"
            "sample_size = 30  # answers to label per arm\n"
            "labels = []  # marks from a script or a file: (arm, question id, \"supported\" | \"hallucinated\" | \"abstained\")"
        ),
        new_code_cell(
            "from toolkit import paths, ui\n\n"
            "if run is None:\n"
            "    stored = sorted((p for p in paths.subdir(\"runs\").iterdir() if (p / \"answers.jsonl\").exists()),\n"
            "                    key=lambda p: (p / \"answers.jsonl\").stat().st_mtime)\n"
            "    run = stored[-1].name if stored else None\n"
            "print(f\"reviewing run {run}\" if run else \"no stored run yet: run notebooks/01_quickstart.ipynb first\")"
        ),
        new_markdown_cell("## Label a random sample\n\nThe pane opens on the sample (drawn once per arm, stored with the run):"),
        new_code_cell(
            "pane = ui.review_pane(run, reviewer=reviewer, sample_size=sample_size) if run else None\n"
            "if pane:\n"
            "    pane.draw_sample()\n"
            "pane"
        ),
        new_markdown_cell("Marks can also come from code (a script, a file of labels): the same API the buttons call."),
        new_code_cell(
            "if pane:\n"
            "    for arm, question_id, label in labels:\n"
            "        pane.review.mark(arm, question_id, hallucination=label)\n"
            "    pane.go(pane.index)  # refresh what the pane shows\n"
            "    for arm in pane.review.arms:\n"
            "        print(f\"{arm}: {pane.review.progress_text(arm)}\")"
        ),
        new_markdown_cell(
            "## Corrected rates\n\nJudge only (uncorrected, next to the judge's balanced accuracy on real answers "
            "from its card) and prediction-powered, per arm and for the differences between arms:"
        ),
        new_code_cell(
            "from IPython.display import Markdown\n\n"
            "from toolkit.experiments.rates import rates_markdown\n\n"
            "Markdown(\"\\n\".join(rates_markdown(pane.review.rates()))) if pane else None"
        ),
        new_markdown_cell(
            "## MLflow\n\nEach mark is a HUMAN assessment (`correct`, `hallucination`) on the answer's trace. A mark "
            "added in the MLflow UI (Traces → a trace → Assess → Add feedback, name `hallucination` with value "
            "`supported`/`hallucinated`/`abstained`, or `correct` true/false) is read back here; the arm runs get "
            "`hallucination/rate_judge`, `hallucination/rate_ppi` (with `_ci_low`/`_ci_high`) and "
            "`hallucination/human_labels_n`."
        ),
        new_code_cell(
            "if pane and pane.review.tracking():\n"
            "    report = pane.sync()\n"
            "    print(report.text() if report else pane.status.value)"
        ),
    ],
}


def build() -> dict[str, nbformat.NotebookNode]:
    notebooks = {}
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=cells)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
        nb.metadata["language_info"] = {"name": "python"}
        for i, cell in enumerate(nb.cells):
            cell["id"] = f"{Path(name).stem[:2]}-{i:02d}"  # stable ids keep the files byte-identical on rebuild
        notebooks[name] = nb
    return notebooks


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def main() -> None:
    for name, nb in build().items():
        nbformat.validate(nb)
        (HERE / name).write_text(render(nb), encoding="utf-8")
        print(f"wrote notebooks/{name}")


if __name__ == "__main__":
    main()
