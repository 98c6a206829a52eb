"""``relbert-train``: fine-tune (or distil) a RelBERT model and save the best epoch."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import Interrupted, UsageError
from ..offsets import OFFSET_GRID  # numpy only
from ..templates import AGGREGATIONS
from ..training.config import (DISTILL_LOSSES, LOSSES, LR_SCHEDULES, MEMORY_BUDGET_GB, RECIPES,  # no torch
                               OFFSET_GRADIENTS, SELECTIONS, TRAIN_PRECISIONS, VALIDATION_SETS)
from .common import Command
from .options import data_dir_option
from .types import OFFSET_WEIGHT, SEED, POSITIVE, Finite


@click.command(cls=Command)
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False),
              help="Output folder: model/ (best epoch), state/ (for --resume), train.log.")
@click.option("--data", default="semeval", show_default=True, metavar="semeval|FILE.jsonl",
              help="Training data: SemEval-2012 built from the raw ratings, or RelBERT-format JSONL.")
@click.option("--recipe", type=click.Choice(tuple(RECIPES)), default="fast", show_default=True,
              help="Settings of every option below that is not given: fast (chosen on validation: 100 negatives, lr "
                   "2e-5, mask pooling, 5 epochs with patience 2, precision auto) or paper (400 negatives, lr 5e-6, "
                   "average_no_mask, 10 epochs, fp32). See docs/training.md.")
@click.option("--model", "-m", default=None, metavar="NAME_OR_PATH",
              help="Model to fine-tune. Default: with --data FILE the shipped default (relbert-minilm), so your "
                   "relations start from a trained model; on SemEval the packaged base encoder (all-MiniLM-L6-v2 "
                   "without the shipped fine-tuning), as the paper does.")
@click.option("--template", "-t", default=None,
              help="Template name a-e or a custom string with <subj>, <obj>, <mask> (default: a trained model's own, "
                   "else the recipe's: d).")
@click.option("--aggregation", "-a", type=click.Choice(AGGREGATIONS), default=None,
              help="Pooling of the last hidden layer (default: a trained model's own, else the recipe's).")
@click.option("--max-length", type=click.IntRange(min=4), default=64, show_default=True,
              help="Longest prompt in tokens; longer training pairs are an error.")
@click.option("--loss", type=click.Choice(LOSSES), default="nce", show_default=True,
              help="Contrastive loss: InfoNCE, InfoLOOB or triplet.")
@click.option("--temperature", type=Finite(min=1e-4, max=1e4), default=0.05, show_default=True, help="Temperature of InfoNCE/InfoLOOB.")
@click.option("--num-positive", type=click.IntRange(min=2), default=10, show_default=True,
              help="Positive pairs sampled per relation and step.")
@click.option("--num-negative", type=click.IntRange(min=1), default=None,
              help="Negative pairs sampled per relation and step.")
@click.option("--margin", type=Finite(min=0, max=1e4), default=1.0, show_default=True, help="Triplet margin.")
@click.option("--batch", type=click.IntRange(min=1), default=64, show_default=True, help="Triplet: relations per step.")
@click.option("--classification-loss", is_flag=True, help="Add the SBERT-style 3-way classification head.")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Passes over the training relations (recipe: fast 5, paper 10).")
@click.option("--lr", type=Finite(min=0, min_open=True, max=1.0), default=None, help="AdamW learning rate, no weight decay (recipe: fast 2e-5, paper 5e-6).")
@click.option("--warmup", type=click.IntRange(min=0), default=10, show_default=True, help="Linear warmup steps.")
@click.option("--gradient-accumulation", type=click.IntRange(min=1), default=1, show_default=True,
              help="Relations per optimiser step.")
@click.option("--share-encodings", is_flag=True,
              help="A step of several relations (--gradient-accumulation) encodes the union of their prompts once "
                   "(the same loss, fewer encodings).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of every random choice (sampling, dropout).")
@click.option("--seeds", default=None, metavar="S1,S2,...",
              help="Independent runs, one per seed, each to its stopping rule; OUTPUT/model is the best by validation "
                   "(runs in OUTPUT/seeds/N, curves in OUTPUT/seeds.json and train.log). Replaces --seed.")
@click.option("--prompts-per-pass", "chunk_size", type=click.IntRange(min=1), default=None,
              help="Prompts per forward pass (default: as many as --memory-budget holds); a larger step uses "
                   "gradient caching.")
@click.option("--memory-budget", type=Finite(min=0, min_open=True, max=2**20), default=MEMORY_BUDGET_GB,
              show_default=True, help="GiB of activations one forward pass may keep for the backward pass.")
@click.option("--freeze-layers", type=click.IntRange(min=0), default=None,
              help="Freeze the embeddings and the lowest N encoder layers; their outputs are computed once per prompt "
                   "(training and validation), so steps run the upper layers only.")
@click.option("--freeze-embeddings", is_flag=True, help="Keep the word-embedding matrix fixed (smaller checkpoints to ship).")
@click.option("--precision", type=click.Choice(TRAIN_PRECISIONS), default=None,
              help="Training precision: auto (bf16 autocast where the GPU or CPU computes bf16 natively, else fp32; the "
                   "fast recipe's), fp32 (the paper's), or bf16 (autocast; fp32 weights and optimiser).")
@click.option("--lora-rank", type=click.IntRange(min=0), default=0, show_default=True,
              help="Train LoRA adapters of this rank on every linear layer (needs peft) instead of all weights; 0 = full fine-tuning.")
@click.option("--lora-alpha", type=POSITIVE, default=None, help="LoRA scale numerator (default: 2 x rank).")
@click.option("--validation", default=None,
              help="Comma-separated validation sets (analogy 'valid' splits; 'semeval' = held-out SemEval pairs) that "
                   "pick the best epoch; '' for none (epochs are then compared by training loss). Default: on SemEval "
                   f"{','.join(VALIDATION_SETS)}; with --data FILE, 20% of each relation's positives held out (by "
                   "--seed) as analogy questions of your relations ('own').")
@click.option("--selection", type=click.Choice(SELECTIONS), default="balanced", show_default=True,
              help="How the validation sets pick the best epoch: balanced (each set counts once, printed with its "
                   "standard error every epoch; mean is its earlier name) or weighted by their number of questions.")
@click.option("--lr-schedule", type=click.Choice(LR_SCHEDULES), default=None,
              help="Learning rate after the warmup: constant, or a linear / cosine decay to 0 at the last epoch.")
@click.option("--patience", type=click.IntRange(min=0), default=None,
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
@click.option("--contrastive-weight", type=Finite(min=0, max=1e4), default=0.0, show_default=True,
              help="With distillation: weight of the contrastive SemEval terms mixed into each epoch (0 = none).")
@click.option("--offset-weight", "train_offset_weight", type=OFFSET_WEIGHT, default=0.0, show_default=True,
              metavar="LAMBDA",
              help="Train on the relation + offset vector at this weight (the word offsets computed by the same "
                   "encoder in the step; the loss and the distillation see the combined vector); 0: the relation "
                   "vector alone.")
@click.option("--offset-gradient", type=click.Choice(OFFSET_GRADIENTS), default="both", show_default=True,
              help="With --offset-weight: the gradient flows through both halves, or the relation half only.")
@click.option("--offset-grid", default=",".join(f"{w:g}" for w in OFFSET_GRID), show_default=True,
              metavar="L1,L2,...",
              help="At the end, the saved model's offset weight is chosen on the validation sets among these "
                   "(relbert-eval choose-offset's rule); 0 alone keeps relation-only vectors.")
@data_dir_option
@click.option("--resume", is_flag=True, help="Continue an interrupted run in the same output folder, or extend a finished one with a larger --epochs (constant learning rate).")
@click.option("--overwrite", is_flag=True, help="Replace the training run already in OUTPUT (without it, that is an error).")
@click.option("--checkpoint-every", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also save the state for --resume every N optimisation steps within an epoch (0: after each epoch only).")
@click.option("--device", default=None, help="torch device (default: cuda if available, else cpu).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def train(output, seeds, offset_grid, data_dir, resume, overwrite, checkpoint_every, device, quiet, **options):
    """Fine-tune a RelBERT model with contrastive losses (launch under torchrun for several processes).

    The options become a TrainConfig (TrainConfig.from_options) and the run is
    relbert.training.fit: the same call from Python (docs/python.md, Training from Python)."""
    from transformers.utils import logging as hf_logging

    from ..templates import resolve_template
    from ..training.api import fit
    from ..training.config import TrainConfig
    from ..training.run import interrupted_line
    from ..training.seeds import parse_seeds

    hf_logging.disable_progress_bar()
    if options["template"] is not None:
        resolve_template(options["template"])
    seed_list = parse_seeds(seeds) if seeds is not None else None
    offset_weights = _offset_grid(offset_grid)
    config = TrainConfig.from_options(options)
    say = (lambda line: None) if quiet else (lambda line: click.echo(line, err=True))
    try:
        result = fit(config, output, data_dir=data_dir, seeds=seed_list, offset_grid=offset_weights, device=device,
                     resume=resume, overwrite=overwrite, checkpoint_every=checkpoint_every, show_progress=not quiet,
                     report=say)
    except KeyboardInterrupt:
        raise Interrupted(interrupted_line(Path(output))) from None
    if quiet and result.get("summary"):  # the closing line is said even with -q
        click.echo(result["summary"], err=True)


def _offset_grid(text: str):
    """--offset-grid's weights (checked before any training: a typo must not cost a run)."""
    from ..training.api import check_offset_grid

    try:
        weights = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UsageError(f"--offset-grid: expected comma-separated numbers, got {text!r}")
    return check_offset_grid(weights)


if __name__ == "__main__":  # python -m relbert.cli.train_command (torchrun -m)
    train()
