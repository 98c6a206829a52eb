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
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

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
    from .run import check_run_folder
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
        result["offset_weight"] = choose_offset(output / "model", validators, grid, device, say)
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


def choose_offset(model_dir: Path, validators: Dict, weights: Sequence[float], device: Optional[str],
                  say: Callable[[str], None]) -> Optional[float]:
    """The saved model's offset weight, chosen on the run's validation sets (relbert-eval
    choose-offset's rule, no change on noise) and recorded in its config.json, training_config.json
    and card; None where there is nothing to choose on."""
    import json

    from ..evaluation.offset_choice import choose_for_saved_model
    from ..io import write_json_atomic
    from ..models.card import refresh_card

    if not validators or tuple(weights) == (0.0,) or not model_dir.is_dir():
        return None
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
    refresh_card(model_dir)  # the card's offset weight and width follow the choice
    return chosen
