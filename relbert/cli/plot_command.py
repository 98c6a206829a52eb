"""``relbert-plot``: a 2-D map of an embedded collection (HTML with hover, or PNG)."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import UsageError
from ..plot import METHODS
from .common import Command, check_output
from .types import SEED


def read_labels(path: str, pairs) -> list:
    """One label a line (row i = pair i), or ``head<TAB>tail<TAB>label`` lines naming the same
    pairs in the same order; a mismatch is ``FILE:LINE: problem``."""
    from ..errors import InputError
    from ..io import decode_line

    labels = []
    with open(path, "rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            text = decode_line(raw, path, lineno).rstrip("\n").rstrip("\r")
            fields = text.split("\t")
            if len(fields) == 3 and lineno <= len(pairs) and tuple(fields[:2]) != tuple(pairs[lineno - 1]):
                raise InputError(path, lineno, f"pair {fields[0]}:{fields[1]}, but row {lineno} of the collection is "
                                 "{}:{}".format(*pairs[lineno - 1]))
            if len(fields) not in (1, 3) or not fields[-1].strip():
                raise InputError(path, lineno, "expected a label (or head<TAB>tail<TAB>label)")
            labels.append(fields[-1].strip())
    if len(labels) != len(pairs):
        raise InputError(path, len(labels) + 1, f"{len(labels)} labels for {len(pairs)} pairs: give one label a pair")
    return labels


@click.command(cls=Command)
@click.argument("vectors", type=click.Path(exists=True, dir_okay=False))
@click.option("--pairs", "-p", "pairs_file", type=click.Path(exists=True, dir_okay=False),
              help="The pairs file VECTORS was embedded from (not needed for --format npz output).")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="map.html (self-contained, hover shows the pair) or map.png; the suffix chooses.")
@click.option("--labels", "labels_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Colour by label: one label a line (row i = pair i), or head<TAB>tail<TAB>label lines. "
                   "Default: colour by HDBSCAN cluster.")
@click.option("--method", type=click.Choice(METHODS), default="auto", show_default=True,
              help="Projection to 2-D: auto (UMAP where installed, else t-SNE; PCA above 20,000 pairs), tsne, pca, umap.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the projection.")
@click.option("--title", default=None, help="Title (default: the collection's file name and model).")
@click.option("--quiet", "-q", is_flag=True, help="No summary line on stderr.")
def plot(vectors, pairs_file, output, labels_file, method, seed, title, quiet):
    """Draw a 2-D map of the relation vectors in VECTORS (a relbert-embed output): pairs that
    stand in similar relations land close together."""
    import time

    from .. import plot as relation_plot
    from ..embedding import provenance
    from ..io import read_pairs
    from ..search.exact import load_vectors

    out = check_output(output)
    relation_plot.output_format(out)  # before any work
    start = time.perf_counter()
    matrix, stored = load_vectors(vectors)
    if stored is None and pairs_file is None:
        raise UsageError(f"{vectors}: an .npy collection needs its pairs file (--pairs)")
    pairs = read_pairs(pairs_file) if pairs_file is not None else stored
    labels = read_labels(labels_file, pairs) if labels_file else None
    made = provenance.read(vectors)
    title = title or f"{Path(vectors).name}: {len(pairs):,} pairs" + (f" ({made['model']})" if made else "")
    drawn = relation_plot.relation_map(matrix, pairs, labels, method, seed)
    relation_plot.write(drawn, out, title)
    if not quiet:
        groups = len(set(drawn.groups) - {"noise"})
        click.echo(f"wrote {out} ({len(pairs):,} pairs, {drawn.method}, {groups} {drawn.by}s, "
                   f"{time.perf_counter() - start:.1f} s)", err=True)
