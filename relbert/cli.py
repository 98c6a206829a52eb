"""Command-line entry points. Parsing and error reporting only; the work lives in the library."""
from __future__ import annotations

import sys

import click

from .templates import AGGREGATIONS

#: Exit status for bad input (a malformed file, an unknown model): as click's usage errors.
EXIT_BAD_INPUT = 2


def fail(message: str, code: int = EXIT_BAD_INPUT) -> "NoReturn":  # noqa: F821
    """Print one line on stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def load_model(model, template, aggregation, max_length, device):
    """Load a RelBERT model, turning load failures into one clear line."""
    from .model import ModelNotFoundError, RelBERT

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # transformers' per-tensor "Loading weights" bar says nothing useful
    try:
        return RelBERT.from_pretrained(
            model, template=template, aggregation=aggregation, max_length=max_length, device=device
        )
    except ModelNotFoundError as err:
        fail(str(err).splitlines()[0])
    except ValueError as err:  # bad template / aggregation
        fail(str(err))


def model_options(func):
    """Options shared by every command that loads a model."""
    options = [
        click.option("--model", "-m", default=None, metavar="NAME_OR_PATH",
                     help="Hugging Face model name or folder (default: the embedded default model)."),
        click.option("--template", "-t", default=None,
                     help="Template name a-e or a custom string with <subj>, <obj>, <mask> (default: the model's own, else a)."),
        click.option("--aggregation", "-a", type=click.Choice(AGGREGATIONS), default=None,
                     help="Pooling (default: the model's own, else average_no_mask)."),
        click.option("--max-length", type=click.IntRange(min=4), default=64, show_default=True,
                     help="Longest prompt in tokens; longer prompts are an error, never truncated."),
        click.option("--device", default=None, help="torch device (default: cuda if available, else cpu)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("pairs", metavar="PAIRS", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Output .npy file: float32 (N, hidden), row i = line i of PAIRS.")
@model_options
@click.option("--batch-size", "-b", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--no-normalize", is_flag=True, help="Write raw masked sums (the official package's vectors) instead of unit vectors.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def embed(pairs, output, model, template, aggregation, max_length, device, batch_size, no_normalize, quiet):
    """Embed the word pairs of PAIRS (head<TAB>tail per line; - for stdin) into OUTPUT.

    Every line is a pair (no header, no comments); blank lines, wrong field counts, empty
    words and invalid UTF-8 stop the run with FILE:LINE and exit status 2. The output is
    written atomically: on any error nothing is written and an existing file is untouched.
    """
    from .io import InputError, read_pairs, save_npy_atomic
    from .tokenization import PromptTooLongError

    try:
        data = read_pairs(pairs)
    except InputError as err:
        fail(str(err))
    except OSError as err:
        fail(f"{pairs}: {err.strerror or err}")
    if not data:
        fail(f"{pairs}: no pairs in the file")
    relbert = load_model(model, template, aggregation, max_length, device)
    try:
        vectors = relbert.embed(data, batch_size=batch_size, normalize=not no_normalize, show_progress=not quiet)
    except PromptTooLongError as err:
        line = next(i for i, p in enumerate(data, start=1) if p in err.lengths)
        fail(f"{pairs}:{line}: {err}")
    save_npy_atomic(output, vectors)
    if not quiet:
        click.echo(f"wrote {vectors.shape[0]} x {vectors.shape[1]} float32 to {output}", err=True)


if __name__ == "__main__":  # pragma: no cover
    embed()
