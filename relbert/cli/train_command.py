"""``relbert-train``: fine-tune (or distil) a RelBERT model and save the best epoch."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import Interrupted, UsageError
from ..offsets import OFFSET_GRID  # numpy only
from ..templates import AGGREGATIONS
from ..training.config import (DISTILL_LOSSES, LOSSES, LR_SCHEDULES, MEMORY_BUDGET_GB, RECIPES,  # no torch
                               SELECTIONS, TRAIN_PRECISIONS, VALIDATION_SETS)
from .common import build_validators, data_folder, user_errors, validation_names
from .types import SEED, POSITIVE, Finite


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
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
@click.option("--offset-grid", default=",".join(f"{w:g}" for w in OFFSET_GRID), show_default=True,
              metavar="L1,L2,...",
              help="At the end, the saved model's offset weight is chosen on the validation sets among these "
                   "(relbert-eval choose-offset's rule); 0 alone keeps relation-only vectors.")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False), help="Data folder (default: $RELBERT_DATA, else $RELBERT_HOME/data from relbert-download data, else ../shared/data).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run in the same output folder, or extend a finished one with a larger --epochs (constant learning rate).")
@click.option("--overwrite", is_flag=True, help="Replace the training run already in OUTPUT (without it, that is an error).")
@click.option("--checkpoint-every", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also save the state for --resume every N optimisation steps within an epoch (0: after each epoch only).")
@click.option("--device", default=None, help="torch device (default: cuda if available, else cpu).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@user_errors
def train(output, recipe, data, model, template, aggregation, max_length, loss, temperature, num_positive, num_negative, margin,
          batch, classification_loss, epochs, lr, warmup, gradient_accumulation, share_encodings, seed, seeds, chunk_size,
          memory_budget, freeze_layers, freeze_embeddings, precision, lora_rank, lora_alpha, validation, selection,
          lr_schedule, patience, min_epochs, keep_epochs, distill_from, distill_pairs, distill_loss, distill_batch,
          contrastive_weight, offset_grid, data_dir, resume, overwrite, checkpoint_every, device, quiet):
    """Fine-tune a RelBERT model with contrastive losses (launch under torchrun for several processes)."""
    from transformers.utils import logging as hf_logging

    from ..data.relsim import read_relsim_file
    from ..data.semeval import load_semeval
    from ..templates import resolve_template
    from ..training.config import TrainConfig
    from ..training.seeds import parse_seeds, train_seeds
    from ..training.trainer import Trainer
    from ..training.config import resolve_recipe

    hf_logging.disable_progress_bar()
    if template is not None:
        resolve_template(template)
    seed_list = parse_seeds(seeds) if seeds is not None else None
    offset_weights = _offset_grid(offset_grid)
    _check_run_folder(Path(output), resume, overwrite)
    if data != "semeval" and not Path(data).is_file():
        raise UsageError(f"--data {data}: no such file (give 'semeval' or a RelBERT-format JSONL file)")
    start, start_name = _starting_model(model, data)
    settings = resolve_recipe(recipe, {"template": template, "aggregation": aggregation, "num_negative": num_negative,
                                       "lr": lr, "lr_schedule": lr_schedule, "epochs": epochs, "patience": patience,
                                       "freeze_layers": freeze_layers, "precision": precision},
                              *_trained_pooling(start))
    own_validation = validation is None and data != "semeval"
    names = ["own"] if own_validation else validation_names(",".join(VALIDATION_SETS) if validation is None
                                                            else validation)
    config = TrainConfig(model=start, start=start_name, recipe=recipe, max_length=max_length, loss=loss,
                         temperature=temperature, num_positive=num_positive, margin=margin,
                         batch=batch, classification_loss=classification_loss, warmup=warmup,
                         gradient_accumulation=gradient_accumulation, share_encodings=share_encodings, seed=seed,
                         chunk_size=chunk_size, memory_budget_gb=memory_budget,
                         freeze_embeddings=freeze_embeddings, lora_rank=lora_rank, lora_alpha=lora_alpha,
                         data=data, validation=names, selection=selection, min_epochs=min_epochs,
                         keep_epochs=keep_epochs, distill_from=distill_from, distill_pairs=distill_pairs,
                         distill_loss=distill_loss, distill_batch=distill_batch, contrastive_weight=contrastive_weight,
                         **settings).check()  # option mistakes (distillation needs both files, ...): one line, now
    say = (lambda line: None) if quiet else (lambda line: click.echo(line, err=True))
    try:
        if data == "semeval":
            root = data_folder(data_dir)
            if root is None:
                raise UsageError("training on SemEval-2012 (the default, --data semeval) needs the data folder: "
                                 "run relbert-download data (or pass --data-dir), or train on your own relations "
                                 "with --data FILE.jsonl (--validation '' for no validation)")
            relations = load_semeval(root / "semeval2012_task2")[0]
        else:
            relations = read_relsim_file(data)
        if own_validation:
            relations, validators = _own_validation(relations, seed, say)
        else:
            validators = build_validators(config.validation, data_dir, 128)
        say(f"relbert-train, recipe {recipe}: starting from {start_name}; "
            + (f"epochs chosen on {', '.join(validators)}" if validators else "no validation: epochs compared by "
               "training loss"))
        if seed_list is not None:
            summary = train_seeds(config, seed_list, relations, output, validators, device=device,
                                  show_progress=not quiet, resume=resume, checkpoint_every=checkpoint_every, report=say)
            from ..runtime import distributed

            if distributed.init()[0] == 0:
                best = summary["seeds"][str(summary["winner"])]
                click.echo(f"best seed {summary['winner']}: {_best_line(best, bool(validators))}; model in "
                           f"{output}/model", err=True)
                _choose_offset(Path(output) / "model", validators, offset_weights, device, say)
            return
        trainer = Trainer(config, relations, output, validators, device=device, show_progress=not quiet, report=say)
        progress = trainer.train(resume=resume, checkpoint_every=checkpoint_every)
    except FileNotFoundError as err:  # a data or validation file that is not there
        raise UsageError(str(err).splitlines()[0])
    except KeyboardInterrupt:
        raise Interrupted(_interrupted_line(Path(output))) from None
    if trainer.rank == 0:
        click.echo(f"{_best_line(progress, bool(validators))}; model in {output}/model", err=True)
        _choose_offset(Path(output) / "model", validators, offset_weights, device, say)


def _starting_model(model, data):
    """``(what to load, its name for the log and training_config.json)``: --model; else the shipped
    default for a user's own data (fine-tuning starts from a trained model) and the packaged base
    on SemEval (the paper's setting)."""
    from ..models.loading import DEFAULT_NAME, default_model_path

    if model is not None:
        return model, model
    if data != "semeval":
        return DEFAULT_NAME, f"{DEFAULT_NAME} (the shipped default)"
    return default_model_path(), "all-MiniLM-L6-v2 (the packaged base, not fine-tuned)"


def _trained_pooling(model):
    """A trained starting model's own template and aggregation (fine-tuning keeps how it reads
    pairs), or ``(None, None)``; a model that cannot be found is one line."""
    from ..models.loading import resolve_model

    if model is None:  # the packaged base: not trained
        return None, None
    spec = resolve_model(model)
    return (spec.template, spec.aggregation) if spec.is_trained else (None, None)


def _own_validation(relations, seed, say):
    """The user's relations split by seed into training and held-out analogy questions."""
    from ..data.relsim import held_out_questions, split_held_out
    from .common import Validator

    train_part, held = split_held_out(relations, seed)
    dataset = held_out_questions(held, seed)
    if not dataset.questions:
        say("note: too few positives per relation to hold any out (4 a relation at least): no validation, epochs "
            "compared by training loss")
        return relations, {}
    say(f"validation: {sum(len(r.positives) for r in held)} of your pairs held out ({len(dataset.questions)} analogy "
        f"questions over {len(held)} relations); training on the rest")
    return train_part, {"own/valid": Validator(dataset, 128)}


def _best_line(progress: dict, validated: bool) -> str:
    """The closing line's first half: the best epoch and what chose it."""
    if not validated:
        return f"best epoch {progress['best_epoch']} (training loss {-progress['best_score']:.2f})"
    if progress["best_epoch"] == 0:
        return (f"no epoch beat the starting model on validation ({progress['best_score']:.2f}): the starting model "
                "is kept")
    return f"best epoch {progress['best_epoch']} (validation {progress['best_score']:.2f})"


def _offset_grid(text: str):
    """--offset-grid's weights (checked before any training: a typo must not cost a run)."""
    try:
        weights = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UsageError(f"--offset-grid: expected comma-separated numbers, got {text!r}")
    from ..offsets import MAX_OFFSET_WEIGHT

    if not weights or any(not 0 <= w <= MAX_OFFSET_WEIGHT for w in weights) or 0.0 not in weights:
        raise UsageError(f"--offset-grid: give weights from 0 to {MAX_OFFSET_WEIGHT:g}, 0 among them (the relation "
                         "vector alone is the reference)")
    return weights


def _choose_offset(model_dir: Path, validators, weights, device, say) -> None:
    """The saved model's offset weight, chosen on the run's validation sets (relbert-eval
    choose-offset's rule) and recorded in its config.json and training_config.json."""
    import json

    from ..evaluation.offset_choice import choose_for_saved_model
    from ..io import write_json_atomic

    if not validators or weights == (0.0,) or not model_dir.is_dir():
        return
    record = choose_for_saved_model(model_dir, {name: v.dataset for name, v in validators.items()}, weights,
                                    device=device)
    rows = {r["offset_weight"]: r for r in record["grid"]}
    chosen, kept = record["offset_weight"], record.get("kept")
    if kept:  # a gain within the noise changes nothing
        say(f"offset weight {chosen:g} kept (the model's own): {kept['best']:g} scores {kept['gain']:+.2f} points on "
            f"validation, within one standard error ({kept['se']:.2f}) of the paired difference")
    else:
        say(f"offset weight {chosen:g} chosen on validation (mean {rows[chosen]['mean']:.2f} against "
            f"{rows[0.0]['mean']:.2f} for the relation vector alone); written into {model_dir}/config.json")
    path = model_dir / "training_config.json"
    config = json.loads(path.read_text()) if path.is_file() else {}
    config["offset_choice"] = record
    write_json_atomic(path, config, indent=2)
    from ..models.card import refresh_card

    refresh_card(model_dir)  # the card's offset weight and width follow the choice


#: What a training run writes in its output folder (--overwrite removes these, and only these).


def _interrupted_line(output: Path) -> str:
    """What Ctrl-C kept of a run and how to continue it."""
    import json

    try:
        progress = json.loads((output / "state" / "state.json").read_text())["progress"]
        epoch, partial = progress["epoch"], progress.get("partial")
    except (OSError, ValueError, KeyError, TypeError):
        return (f"interrupted before the run saved any state in {output}/state: the same command with --resume "
                "starts it from the start (or use --overwrite)")
    where = (f"in epoch {epoch + 1} after {partial['items_done']} relations" if partial
             else f"after epoch {epoch}")
    return (f"interrupted: {output}/state holds the state saved {where} (the best model so far is in "
            f"{output}/model); continue with the same command plus --resume")


def _check_run_folder(output: Path, resume: bool, overwrite: bool) -> None:
    """A second run into the same folder is refused (one line) unless it resumes or overwrites."""
    import shutil

    if resume and overwrite:
        raise UsageError("--resume continues the run in OUTPUT and --overwrite replaces it: choose one")
    from ..training.run import RUN_FILES

    found = [name for name in RUN_FILES if (output / name).exists()]
    if not found or resume:
        return
    if not overwrite:
        if not (output / "state" / "state.json").is_file():
            raise UsageError(f"{output} holds a training run that saved no state yet ({', '.join(found)}): start it "
                             "again from the start with --resume, or replace it with --overwrite")
        raise UsageError(f"{output} holds a training run already ({', '.join(found)}): continue it with --resume, "
                         "or replace it with --overwrite")
    for name in found:
        path = output / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()


if __name__ == "__main__":  # python -m relbert.cli.train_command (torchrun -m)
    train()
