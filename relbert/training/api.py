"""Training from Python: a :class:`~relbert.training.config.TrainConfig` and one call.

    from relbert.training import TrainConfig, fit

    config = TrainConfig.from_recipe("fast", data="own.jsonl", epochs=3)
    result = fit(config, "run")          # the model in run/model, with its card
    print(result["model_dir"], result["best_epoch"], result["offset_weight"])

``relbert-train`` parses its options into the same config and calls :func:`fit`: what it does,
this does (the run folder's rules, the data, the validation sets, several seeds, the offset
weight chosen at the end).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple, Union

from ..errors import UsageError
from ..offsets import MAX_OFFSET_WEIGHT, OFFSET_GRID
from .config import TrainConfig

Report = Optional[Callable[[str], None]]


def check_offset_grid(weights: Sequence[float]) -> Tuple[float, ...]:
    """The weights the end-of-run offset choice scores: from 0 to the largest λ, 0 among them."""
    weights = tuple(float(w) for w in weights)
    if not weights or any(not 0 <= w <= MAX_OFFSET_WEIGHT for w in weights) or 0.0 not in weights:
        raise UsageError(f"--offset-grid: give weights from 0 to {MAX_OFFSET_WEIGHT:g}, 0 among them (the relation "
                         "vector alone is the reference)")
    return weights


def fit(config: TrainConfig, output: Union[str, Path], *, data_dir: Optional[str] = None,
        seeds: Optional[List[int]] = None, offset_grid: Sequence[float] = OFFSET_GRID, device: Optional[str] = None,
        resume: bool = False, overwrite: bool = False, checkpoint_every: int = 0, show_progress: bool = True,
        report: Report = None) -> dict:
    """Train ``config`` into ``output`` (``model/``, ``state/``, ``train.log``, ...) and choose the
    saved model's offset weight on the validation sets.

    Args:
        seeds: independent runs, one per seed, the best by validation kept (``--seeds``).
        offset_grid: the weights the end-of-run choice scores (``(0,)``: relation vectors only).
        resume / overwrite: continue, or replace, a run already in ``output``.
        report: called with each line of progress a user reads (``relbert-train`` prints them).

    Returns:
        the run's progress record (``best_epoch``, ``best_score``, ``history``, ...) with
        ``model_dir`` and the chosen ``offset_weight`` (for several seeds: the winner's, with the
        ``seeds`` summary) and the closing ``summary`` line.
    """
    from ..data.relsim import read_relsim_file
    from ..data.semeval import load_semeval
    from .run import check_run_folder, record_offset_choice
    from .trainer import Trainer
    from ..data.paths import data_folder
    from .validation import build_validators

    say = report or (lambda line: None)
    output = Path(output)
    grid = check_offset_grid(offset_grid)
    check_run_folder(output, resume, overwrite)
    try:
        if config.data == "semeval":
            root = data_folder(data_dir)
            if root is None:
                raise UsageError("training on SemEval-2012 (the default, --data semeval) needs the data folder: "
                                 "run relbert-download data (or pass --data-dir), or train on your own relations "
                                 "with --data FILE.jsonl (--validation '' for no validation)")
            relations = load_semeval(root / "semeval2012_task2")[0]
        else:
            relations = read_relsim_file(config.data)
        if config.validation == ["own"]:
            relations, validators = own_validation(relations, config.seed, say)
        else:
            validators = build_validators(config.validation, data_dir, 128)
        say(f"relbert-train, recipe {config.recipe}: starting from {config.start or config.model}; "
            + (f"epochs chosen on {', '.join(validators)}" if validators else "no validation: epochs compared by "
               "training loss"))
        if seeds is not None:
            from ..runtime import distributed
            from .seeds import train_seeds

            summary = train_seeds(config, seeds, relations, output, validators, device=device,
                                  show_progress=show_progress, resume=resume, checkpoint_every=checkpoint_every,
                                  report=say)
            rank = distributed.init()[0]
            result = dict(summary["seeds"][str(summary["winner"])], seeds=summary) if rank == 0 else {}
            if rank == 0:
                result["summary"] = (f"best seed {summary['winner']}: {best_line(result, bool(validators))}; model in "
                                     f"{output}/model")
        else:
            trainer = Trainer(config, relations, output, validators, device=device, show_progress=show_progress,
                              report=say)
            result, rank = dict(trainer.train(resume=resume, checkpoint_every=checkpoint_every)), trainer.rank
            if rank == 0:
                result["summary"] = f"{best_line(result, bool(validators))}; model in {output}/model"
    except FileNotFoundError as err:  # a data or validation file that is not there
        raise UsageError(str(err).splitlines()[0]) from None
    result["model_dir"] = output / "model"
    result["offset_weight"] = None
    if rank == 0:
        say(result["summary"])
        result["offset_weight"] = record_offset_choice(output / "model", validators, grid, device, say)
    return result


def own_validation(relations, seed: int, say: Callable[[str], None]):
    """The user's relations split by seed into training and held-out analogy questions."""
    from ..data.relsim import held_out_questions, split_held_out
    from .validation import Validator

    train_part, held = split_held_out(relations, seed)
    dataset = held_out_questions(held, seed)
    if not dataset.questions:
        say("note: too few positives per relation to hold any out (4 a relation at least): no validation, epochs "
            "compared by training loss")
        return relations, {}
    say(f"validation: {sum(len(r.positives) for r in held)} of your pairs held out ({len(dataset.questions)} analogy "
        f"questions over {len(held)} relations); training on the rest")
    return train_part, {"own/valid": Validator(dataset, 128)}


def best_line(progress: dict, validated: bool) -> str:
    """The closing line's first half: the best epoch and what chose it."""
    if not validated:
        return f"best epoch {progress['best_epoch']} (training loss {-progress['best_score']:.2f})"
    if progress["best_epoch"] == 0:
        return (f"no epoch beat the starting model on validation ({progress['best_score']:.2f}): the starting model "
                "is kept")
    return f"best epoch {progress['best_epoch']} (validation {progress['best_score']:.2f})"
