"""``relbert-search``: the pairs of an embedded collection nearest to query pairs."""
from __future__ import annotations

import click

from ..errors import UsageError
from .common import Command, load_model
from .options import model_options


def _query_pair(text):
    text = text.replace("\\t", "\t")
    fields = text.split("\t")
    if len(fields) != 2 or not all(f.strip() for f in fields):
        raise click.BadParameter(f"{text!r}: a query is head<TAB>tail (a tab, or the two characters \\t)")
    return fields[0], fields[1]


@click.command(cls=Command)
@click.argument("vectors", type=click.Path(exists=True, dir_okay=False))
@click.option("--pairs", "-p", "pairs_file", type=click.Path(exists=True, dir_okay=False, allow_dash=False),
              help="The pairs file VECTORS was embedded from (not needed for --format npz output).")
@click.option("--query", "-Q", "queries", multiple=True, required=True, help="head<TAB>tail; repeatable.")
@click.option("-k", type=click.IntRange(min=1), default=10, show_default=True, help="Results per query.")
@click.option("--index", "index_file", type=click.Path(dir_okay=False), default=None,
              help="An approximate index of VECTORS (from relbert-index): its candidates are re-ranked by exact cosine.")
@click.option("--refine", type=click.IntRange(min=1), default=60, show_default=True,
              help="With --index: candidates per result re-ranked by exact cosine.")
@click.option("--nprobe", type=click.IntRange(min=1), default=None,
              help="With an IVF index: inverted lists visited per query (default: the index's own).")
@click.option("--exact", is_flag=True, help="Scan the whole collection even when --index is given.")
@click.option("--include-query", is_flag=True, help="List a query pair among its own results (left out by default).")
@click.option("--any-model", is_flag=True,
              help="Embed queries with --model even where it differs from the model that embedded VECTORS.")
@click.option("--quiet", "-q", is_flag=True, help="No timing line on stderr.")
@model_options
def search(vectors, pairs_file, queries, k, index_file, refine, nprobe, exact, include_query, any_model, quiet, model,
           template, aggregation, max_length, device, precision, runtime, offset_weight):
    """The K pairs of an embedded collection most similar to each query (TSV: query, rank, score, head, tail).

    A query pair found in the collection uses its stored vector; any other is embedded with
    --model (which must be the model that embedded the collection). With --index, an
    approximate index proposes candidates that the exact vectors re-rank.
    """
    import time

    from ..search.exact import RelationIndex

    try:
        parsed = [_query_pair(q) for q in queries]
    except click.BadParameter as err:
        raise UsageError(err.message)
    try:
        index = RelationIndex.load(vectors, pairs_file, index=None if exact else index_file, refine=refine,
                                   nprobe=nprobe)
    except ImportError as err:  # FAISS, for --index
        raise UsageError(str(err))
    from ..embedding import provenance
    from ..embedding.kind import VectorKind
    from ..models.loading import model_key

    made = provenance.read(vectors) or (index.ann_record.provenance if index.ann_record is not None else None)
    if made is not None:  # the model (and the way) that embedded the collection embeds the queries
        if model is None:
            model = made["model"]
            template = template or made["template"]
            aggregation = aggregation or made["aggregation"]
            precision = made["precision"] if precision == "auto" else precision
        elif not any_model:
            VectorKind.from_record(made).check(VectorKind.from_record({"model": model_key(model)}), ("model",), lambda *_: (
                f"{vectors} was embedded with {made['model']}, not {model}: its neighbours would be wrong (drop "
                "--model to use the collection's, or pass --any-model)"))
        if offset_weight is None:  # the collection's vectors: the same weight (0 for one made before weights)
            offset_weight = made.get("offset_weight", 0.0)
    relbert = None
    if any(index.row_of(p) is None for p in parsed):
        relbert = load_model(model, template, aggregation, max_length, device, precision, runtime=runtime,
                             offset_weight=offset_weight)
        index.check_model(relbert, made)  # before any query is embedded
    import torch  # noqa: F401 - imported before the timed query, so the timing is the query's

    start = time.perf_counter()
    results = index.query(parsed, k, model=relbert, include_query=include_query)
    elapsed = time.perf_counter() - start
    for (qh, qt), hits in zip(parsed, results):
        for rank, ((h, t), score, _) in enumerate(hits, start=1):
            click.echo(f"{qh}:{qt}\t{rank}\t{score:.4f}\t{h}\t{t}")
    if not quiet:
        click.echo(f"{len(parsed)} quer{'y' if len(parsed) == 1 else 'ies'} over {len(index.pairs)} pairs in "
                   f"{elapsed:.3f} s", err=True)
