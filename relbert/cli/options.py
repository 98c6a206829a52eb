"""The options several commands share, each defined once: the model options and ``--data-dir``."""
from __future__ import annotations

import click

from ..runtime.interface import RUNTIMES
from ..runtime.precision import PRECISIONS
from ..templates import AGGREGATIONS
from .types import OFFSET_WEIGHT


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
