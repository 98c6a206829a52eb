"""What every command shares: one error line, model loading, output checks, shared options.

A command is parsing and reporting only; the work lives in the library. A user's mistake is a
:class:`relbert.errors.UserError`, printed by :func:`user_errors` as one line (``error: ...``)
with its exit status; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from ..errors import UsageError
from ..runtime.precision import PRECISIONS
from ..runtime.interface import RUNTIMES
from ..templates import AGGREGATIONS
from .types import OFFSET_WEIGHT


def user_errors(command):
    """The one place a :class:`~relbert.errors.UserError` becomes one line and its exit status
    (2; 1 for a failed download). Other exceptions pass through with their traceback."""
    from ..errors import UserError

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except UserError as err:
            click.echo(f"error: {str(err).splitlines()[0]}", err=True)
            sys.exit(err.exit_code)

    return wrapper


def load_model(model, template, aggregation, max_length, device, precision="auto", compile=False, runtime=None,
               offset_weight=None):
    """Load a RelBERT model (a failure to load is a UserError: :func:`user_errors` prints its line)."""
    from ..model import RelBERT

    return RelBERT.from_pretrained(model, template=template, aggregation=aggregation, max_length=max_length,
                                   device=device, precision=precision, compile=compile, runtime=runtime,
                                   offset_weight=offset_weight)


def check_output(output) -> Path:
    """``output`` as a path whose folder exists and takes new files; else one error line (exit 2)
    naming the output, before any model loads or any evaluation runs."""
    import os
    import tempfile

    out = Path(output)
    folder = out.parent
    if not folder.is_dir():
        raise UsageError(f"{output}: the output folder {folder} does not exist")
    if out.is_dir():
        raise UsageError(f"{output}: is a folder, not a file")
    try:  # a real probe: access() says yes to root even where nothing can be created (/proc)
        fd, probe = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".probe", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise UsageError(f"{output}: cannot write in the output folder {folder} ({err.strerror})")
    return out


def model_options(func, precision_default: str = "auto"):
    """Options shared by every command that loads a model (``--precision`` defaults to auto for
    embedding and search; evaluation passes fp32, so that reports are the fp32 model's)."""
    precision_help = ("Inference precision: auto (of the precisions the model is validated in, fp32 and bf16, the one "
                      "measured fastest on this CPU, cached; on a GPU bf16 where native), fp32, bf16, fp16 (GPU), int8 "
                      "(CPU, dynamic quantization).")
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
        click.option("--precision", type=click.Choice(("auto",) + PRECISIONS), default=precision_default,
                     show_default=True, help=precision_help),
        click.option("--runtime", "runtime", type=click.Choice(RUNTIMES), default=None,
                     help="What runs the encoder: torch, or onnx (ONNX Runtime, CPU, fp32/int8; the model is exported "
                          "at load). Default: onnx for --precision int8 on CPU, else torch."),
        click.option("--offset-weight", type=OFFSET_WEIGHT, default=None, metavar="LAMBDA",
                     help="Weight of the word offset beside the relation vector (vectors twice as wide; cosine = "
                          "(cos_relation + LAMBDA cos_offset) / (1 + LAMBDA)); 0 = relation only. Default: the "
                          "model's own (the named models ship one chosen on validation)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


#: --data-dir, as every command that reads the benchmark data takes it.
data_dir_option = click.option(
    "--data-dir", default=None, type=click.Path(file_okay=False),
    help="Data folder (default: $RELBERT_DATA, else $RELBERT_HOME/data from relbert-download data, else ../shared/data).")
