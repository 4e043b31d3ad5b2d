"""Produce the real-answer set through TierLab's own runner, then export it for labelling (issue 25 point 1).

    python rag_corpus/real_answers/generate.py run      # answer every question of both specs (resumable)
    python rag_corpus/real_answers/generate.py export   # stored answers -> unlabelled/batch_NN.jsonl

``run`` is ``tierlab run`` on ``spec_dev.yaml``, ``spec_test.yaml`` and the second dev source
``spec_dev_sampled.yaml`` (without MLflow logging); ``--spec dev_sampled`` runs only one of them. ``--methods`` /
``--providers`` run only those arms, under the spec's name + a suffix (e.g. the closed-book arms while the index is
still being built); the full run later replays those calls from TierLab's response cache, asking nothing twice.

``export`` reads the full specs' result stores and appends every answer not yet exported to new
``unlabelled/batch_NN.jsonl`` files (``BATCH_SIZE`` items, shuffled with ``SEED`` so each batch mixes models,
methods and kinds). Batches already written are never changed, so labels keep pointing at the same items and the
set can be extended with other models: add a provider to the specs, run, export.

Items carry what a labeller needs (LABELS_FORMAT.md): the question and its gold side, the exact chunk text each
prompt showed, the raw final answer, model, engine, method; CoVe answers add their draft and verification Q/A. The
stored verdict of TierLab's judge is left out on purpose: labels are written by reading, not by the judge.

Needs the two servers (README.md): the shared vLLM on Ray Serve (``local/*``) and llama.cpp (``llamacpp/*``,
``$TIERLAB_LLAMACPP_URL``), with the serve key in ``$TIERLAB_SERVE_API_KEY`` or ``$TIERLAB_HOME/secrets``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPECS = {"dev": HERE / "spec_dev.yaml", "test": HERE / "spec_test.yaml", "dev_sampled": HERE / "spec_dev_sampled.yaml"}
ID_SUFFIXES = {"dev_sampled": ":sampled"}
"""Item-id endings of a spec whose answers share question, model and method with another spec's (ids stay unique)."""
UNLABELLED = HERE / "unlabelled"
BATCH_SIZE = 100
SEED = 25
ENGINES = {"local": "vllm-ray-serve", "llamacpp": "llamacpp"}
"""Catalog provider -> the serving engine behind it (the label set's ``engine`` field)."""
MODEL_NAMES = {"local/smollm2-135m-instruct": "smollm2", "llamacpp/gemma3-270m": "gemma3"}
"""Short model names for item ids; a model added later gets its catalog id's last part."""
_CHUNKS = re.compile(r"Chunks:\n(.*?)\n\nQuestion: ", re.DOTALL)


def specs(
    methods: list[str] | None = None, providers: list[str] | None = None, only: list[str] | None = None
) -> list[tuple[str, object]]:
    """(key, spec) of every spec of ``SPECS`` (or those named in ``only``), or only their arms of these methods /
    providers, under the spec's name + a suffix."""
    from toolkit.experiments.spec import load_spec

    loaded = []
    for key, path in SPECS.items():
        if only and key not in only:
            continue
        spec = load_spec(path)
        if methods or providers:
            spec = spec.model_copy(
                update={
                    "name": "-".join(
                        [spec.name, *(methods or []), *(p.split("/")[0] for p in providers or [])]
                    ),
                    "methods": tuple(m for m in spec.methods if not methods or m.arm_name in methods),
                    "providers": tuple(p for p in spec.providers if not providers or p.id in providers),
                }
            )
        loaded.append((key, spec))
    return loaded


def run(methods: list[str] | None = None, providers: list[str] | None = None, only: list[str] | None = None) -> None:
    from toolkit.experiments.runner import run_experiment

    for _, spec in specs(methods, providers, only):
        result = run_experiment(spec, progress=True)
        answered = sum(arm.answered for arm in result.arms)
        print(
            f"{spec.name}: {answered} answers in {result.run_dir}; failed: {list(result.errors)}",
            file=sys.stderr,
        )


def shown_chunks(prompt: str) -> str:
    """The chunk block of the last user turn of a rendered prompt (few-shot examples come before it)."""
    found = _CHUNKS.findall(prompt.rsplit("\nHuman: ", 1)[-1])
    return found[-1] if found else ""


def item(record, split: str, id_suffix: str = "") -> dict:
    """One answer as a labelling item (LABELS_FORMAT.md fields first, extras after)."""
    question, answer = record.question, record.answer
    prompts = [
        {"step": step.name, "chunks": shown_chunks(step.prompt)}
        for step in answer.steps
        if step.name == "answer" or step.name.startswith("verify[")
    ]
    prompts = [p for p in prompts if p["chunks"]]
    model_name = MODEL_NAMES.get(record.provider, record.provider.rsplit("/", 1)[-1])
    extra: dict = {}
    if answer.method.startswith(("cove", "rag_cove")):
        extra = {
            "cove_draft": answer.details.get("baseline", ""),
            "verification": [
                {"question": q, "answer": a}
                for q, a in zip(
                    answer.details.get("verification_questions", []),
                    answer.details.get("verification_answers", []),
                    strict=False,
                )
            ],
        }
    if len(prompts) > 1:  # rag_cove: one retrieval per verification question
        extra["context_per_prompt"] = prompts
    return {
        "id": f"{question.id}:{model_name}:{record.method}{id_suffix}",
        "question_id": question.id,
        "split": split,
        "model": record.provider,
        "engine": ENGINES.get(record.provider.split("/", 1)[0], record.provider.split("/", 1)[0]),
        "method": record.method,
        "question": question.question,
        "kind": question.kind,
        "gold": list(question.answers),
        "tolerance": question.tolerance,
        "doc_ids": list(question.doc_ids),
        "context": "\n\n".join(p["chunks"] for p in prompts),
        "answer": answer.text,
        "documents": [f"rag_corpus/docs/{doc}.md" for doc in question.doc_ids],
        "retrieved_doc_ids": sorted({chunk.doc_id for chunk in answer.retrieved}),
        "served_model": next((s.model for s in answer.steps if s.model), ""),
        "flags": list(answer.flags),
        **extra,
    }


def stored_items(
    methods: list[str] | None = None, providers: list[str] | None = None, only: list[str] | None = None
) -> list[dict]:
    """Every stored answer of the full specs (or those named in ``only``), plus those of a partial run
    (``--methods``/``--providers``)."""
    from toolkit.experiments.store import Store, run_dir

    found: dict[str, dict] = {}
    for key, spec in specs(only=only) + (specs(methods, providers, only) if methods or providers else []):
        for record in Store(run_dir(spec.run_key())).records().values():
            entry = item(record, spec.split, ID_SUFFIXES.get(key, ""))
            found.setdefault(entry["id"], entry)
    return sorted(found.values(), key=lambda i: i["id"])


def export(items: list[dict], folder: Path = UNLABELLED) -> list[Path]:
    """Append the items not in any batch yet to new batches; existing batches stay as they are."""
    folder.mkdir(parents=True, exist_ok=True)
    batches = sorted(folder.glob("batch_*.jsonl"))
    done = {
        json.loads(line)["id"] for path in batches for line in path.read_text().splitlines() if line.strip()
    }
    fresh = [i for i in items if i["id"] not in done]
    random.Random(SEED + len(batches)).shuffle(fresh)
    written = []
    for start in range(0, len(fresh), BATCH_SIZE):
        path = folder / f"batch_{len(batches) + len(written):02d}.jsonl"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in fresh[start : start + BATCH_SIZE])
        )
        tmp.replace(path)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["run", "export"])
    parser.add_argument("--methods", help="only these arms (comma-separated), e.g. closed_book,cove_joint")
    parser.add_argument("--providers", help="only these catalog ids (comma-separated)")
    parser.add_argument("--spec", choices=sorted(SPECS), help="run or export only this spec (default: every spec)")
    args = parser.parse_args(argv)
    methods = args.methods.split(",") if args.methods else None
    providers = args.providers.split(",") if args.providers else None
    only = [args.spec] if args.spec else None
    if args.command == "run":
        run(methods, providers, only)
        return 0
    items = stored_items(methods, providers, only)
    written = export(items)
    print(f"{len(items)} answers stored; wrote {[p.name for p in written]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
