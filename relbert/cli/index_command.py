"""``relbert-index``: an approximate (FAISS) index of an embedded collection."""
from __future__ import annotations

import click

from ..errors import Interrupted, UsageError
from ..search.index import KINDS
from .common import Command, check_output


@click.command("relbert-index", cls=Command)
@click.argument("vectors", type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="The index file to write.")
@click.option("--kind", type=click.Choice(KINDS), default="ivfpq", show_default=True,
              help="ivfpq: compressed codes in inverted lists (small); hnsw: a graph over the full vectors; flat: exact.")
@click.option("--nlist", type=click.IntRange(min=1), default=None,
              help="ivfpq: inverted lists (default: about 4 x sqrt(rows), a power of two).")
@click.option("--m", "m", type=click.IntRange(min=1), default=None,
              help="ivfpq: sub-quantizers, bytes per vector (must divide the dimension; default: dimension / 8).")
@click.option("--nbits", type=click.IntRange(min=1, max=16), default=8, show_default=True, help="ivfpq: bits per code.")
@click.option("--hnsw-m", type=click.IntRange(min=2, max=256), default=32, show_default=True, help="hnsw: links per node.")
@click.option("--train-size", type=click.IntRange(min=1), default=None,
              help="ivfpq: rows sampled to train the quantizers (default: 40 a list, at least 65536, within the memory budget).")
@click.option("--rows-per-read", "chunk_size", type=click.IntRange(min=1), default=65536, show_default=True,
              help="Rows read and added at a time (memory: the index plus one chunk).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def index(vectors, output, kind, nlist, m, nbits, hnsw_m, train_size, chunk_size, quiet):
    """Build an approximate index (FAISS) of an embedded collection for relbert-search --index.

    VECTORS is a relbert-embed output (.npy, memory-mapped, or .npz) of unit vectors; it is read
    in chunks. The index is written atomically, with a record of the collection it was built
    from, so that a search beside another collection is refused.
    """
    import time

    from ..search import index as ann
    from ..progress import progress_bar
    from ..search.exact import load_vectors

    out = check_output(output)
    params = {"ivfpq": {"nlist": nlist, "m": m, "nbits": nbits}, "hnsw": {"hnsw_m": hnsw_m}, "flat": {}}[kind]
    params = {key: value for key, value in params.items() if value is not None}
    try:
        matrix, _ = load_vectors(vectors)
        smallest = ann.smallest_ivfpq(nbits)
        if kind == "ivfpq" and len(matrix) < smallest:  # the product quantizer cannot train on so few rows
            click.echo(f"note: {len(matrix)} rows are fewer than ivfpq's minimum ({smallest}, 2^nbits); "
                       "built a flat (exact) index instead", err=True)
            kind, params = "flat", {}
        start = time.perf_counter()
        with progress_bar(not quiet, total=len(matrix), unit="row", desc="indexing") as bar:
            built, record = ann.build_index(matrix, kind, params, train_size, chunk_size, source=vectors,
                                            on_rows=bar.update)
        from ..embedding import provenance

        record.provenance = provenance.read(vectors)  # relbert-search embeds queries with that model
        ann.save_index(built, record, out)
    except ImportError as err:  # FAISS
        raise UsageError(str(err))
    except MemoryError:
        raise UsageError(f"{output}: the index does not fit in memory with these parameters ({params or kind}); "
                         "lower them (--hnsw-m, --m) or use --kind ivfpq") from None
    except OSError as err:  # a full or read-only disk: save_index wrote nothing in place of the output
        raise UsageError(f"{output}: {err.strerror or err}; no index was written") from None
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted while building the index: nothing was written to {output}; run the same "
                          "command again") from None
    if not quiet:
        size = out.stat().st_size
        made = f", embedded with {record.provenance['model']}" if record.provenance else ""
        click.echo(f"wrote {kind} index of {record.rows} rows x {record.dimension} ({size / 2**20:.1f} MiB, "
                   f"{time.perf_counter() - start:.1f} s{made}) to {output}", err=True)
