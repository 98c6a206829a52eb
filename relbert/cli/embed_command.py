"""``relbert-embed``: word pairs in, one relation vector per line out (streamed, resumable)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import Interrupted, UsageError, UserError
from ..embedding.formats import FORMATS, format_for
from ..lock import OutputLock
from .common import Command, check_output
from .options import model_options


@click.command(cls=Command)
@click.argument("pairs", metavar="PAIRS", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Output file, row i = line i of PAIRS: float32 (N, D), D the model's width (twice it with an "
                   "offset weight, as the default has).")
@model_options
@click.option("--batch-size", "-b", type=click.IntRange(min=1), default=None,
              help="Prompts per encoder call (default: 64 on torch on CPU, 32 on ONNX Runtime; on CUDA as many as "
                   "fit 65,536 padded tokens).")
@click.option("--no-normalize", is_flag=True, help="Write raw masked sums (the official package's vectors) instead of unit vectors.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="npy: vectors; npz: vectors + pairs; word2vec: text format with keys head__tail. Default: the "
                   "output's extension (.npy, .npz, .txt or .vec); a contradiction is refused before any work.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run (same input, model and options).")
@click.option("--rows-per-chunk", "chunk_size", type=click.IntRange(min=1), default=16384, show_default=True,
              help="Rows per chunk: the unit of progress, resume and sharding.")
@click.option("--cache-size", type=click.IntRange(min=0), default=100_000, show_default=True,
              help="Distinct pairs remembered to reuse the rows of duplicates (bounds memory).")
@click.option("--compile", "compile_", is_flag=True,
              help="torch.compile the encoder (first batches pay 10-60 s of compilation; on CPU it helped only bf16 with average pooling).")
@click.option("--strict", is_flag=True,
              help="Stop (FILE:LINE, exit status 2) at a word the model cannot read (only unknown tokens, a control "
                   "character) instead of counting such pairs in a closing note.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--verbose", "-v", is_flag=True,
              help="Say which precision, runtime and threads run, and why (auto: the rates measured on this CPU).")
def embed(pairs, output, model, template, aggregation, max_length, device, precision, runtime, offset_weight, batch_size,
          no_normalize, fmt, resume, chunk_size, cache_size, compile_, strict, quiet, verbose):
    """Embed the word pairs of PAIRS (head<TAB>tail per line; - for stdin) into OUTPUT.

    Every line is a pair (no header, no comments); blank lines, wrong field counts, empty
    words, invalid UTF-8 and prompts over --max-length stop the run with FILE:LINE and exit
    status 2 before anything is written. The input is read once to plan it, then embedded in
    chunks written in place; OUTPUT appears (atomically) only when complete. Under torchrun
    (torchrun --nproc_per_node=K --no-python relbert-embed ...) chunks are shared among the
    processes and the file is the same as from one process.
    """
    import contextlib
    import os
    import shutil
    import tempfile

    from ..io import precheck_pairs

    out = check_output(output)
    fmt = format_for(output, fmt)
    if pairs != "-":  # checked before torch and transformers load (seconds): mistakes show at once
        if not Path(pairs).is_file():
            raise UsageError(f"{pairs}: no such file")
        precheck_pairs(pairs)

    from ..runtime import distributed
    from ..models.loading import resolve
    from ..embedding.run import EmbedRun, Shard, StreamOptions

    rank, world = distributed.init()
    spooled = None
    if pairs == "-":  # stdin is read more than once: spool it beside the output
        if world > 1:
            raise UsageError("reading standard input is not supported under torchrun: pass a file")
        fd, spooled = tempfile.mkstemp(prefix=f".{out.name}.stdin.", dir=out.parent)
        with os.fdopen(fd, "wb") as handle:
            shutil.copyfileobj(sys.stdin.buffer, handle)
        source = Path(spooled)
    else:
        source = Path(pairs)
        if not source.is_file():
            raise UsageError(f"{pairs}: no such file")
    options = StreamOptions(batch_size=batch_size, normalize=not no_normalize, chunk_size=chunk_size,
                            cache_size=cache_size, fmt=fmt)
    run = EmbedRun(source, out, options, Shard(rank, world), resume=resume, source_name="-" if spooled else str(pairs),
                   show_progress=not quiet, strict=strict)
    lock = OutputLock(out)
    if rank == 0:  # a second run writing the same output refuses here, before any work (and touches nothing)
        try:
            lock.acquire()
        except UserError:
            if spooled:
                os.unlink(spooled)
            raise
    try:
        if device is None and distributed.local_device() is not None:
            device = str(distributed.local_device())
        # the model and its options are resolved once; the input is planned (validated, deduplicated,
        # tokenized) with its tokenizer alone, so a malformed file is reported before the weights load
        spec, settings = resolve(model, template=template, aggregation=aggregation, device=device,
                                 precision=precision, runtime=runtime, compile=compile_)
        run.plan(spec.pair_tokenizer(max_length))
        if run.resume and rank == 0 and not quiet:
            saved = run.saved_rows()
            click.echo(f"resuming at row {saved + 1:,} of {run.rows:,} ({saved:,} saved; chunks of "
                       f"{run.chunk_rows:,} rows, as the interrupted run)", err=True)
        from ..model import RelBERT

        relbert = RelBERT.from_resolved(spec, settings, max_length=max_length, runtime=runtime, compile=compile_,
                                        offset_weight=offset_weight)
        if verbose and rank == 0:
            import torch

            click.echo(f"model {relbert.display_name}: precision {relbert.precision} ({relbert.precision_reason}); "
                       f"runtime {relbert.runtime.name} on {relbert.device}, {torch.get_num_threads()} threads", err=True)
        rows = run.embed(relbert)
        if rank == 0:
            from ..embedding import provenance

            provenance.write(out, relbert.kind(), not no_normalize, rows)
    except UserError:  # a malformed line, an unknown model, a changed input on --resume: the command class says it
        run.abandon()  # nothing half-written stays
        raise
    except OSError as err:
        run.abandon()
        raise UsageError(f"{err.filename or output}: {err.strerror or err}")
    except KeyboardInterrupt:
        run.abandon()
        saved, total = run.saved_rows(), run.rows
        if saved:
            raise Interrupted(f"interrupted after {saved:,} of {total:,} pairs: rerun the same command with --resume "
                              "to continue")
        chunk = run.chunk_rows
        done = run.embedded
        hint = (f"--rows-per-chunk {max(1, done):,} would have saved the {done:,} rows embedded" if done else
                "it stopped before its first batch")
        raise Interrupted(f"interrupted before the first chunk ({chunk:,} rows) was saved, no files left: nothing to "
                          f"resume ({hint})")
    except BaseException:
        run.abandon()
        raise
    finally:
        lock.release()
        if spooled:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(spooled)
    note = run.unknown.summary() if rank == 0 else None
    if note:  # said even with -q: the vectors of those pairs say nothing of the word
        click.echo(note, err=True)
    if not quiet and rank == 0:
        repeated = getattr(run, "repeated_keys", 0)
        note = f"; {repeated} repeated key{'' if repeated == 1 else 's'} written once" if repeated else ""
        click.echo(f"wrote {rows} row{'' if rows == 1 else 's'} ({fmt}{note}) to {output}", err=True)


if __name__ == "__main__":  # python -m relbert.cli.embed_command (torchrun -m)
    embed()
