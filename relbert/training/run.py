"""A training run's life on disk: its folder and files, start, resume and extension, mid-epoch
checkpoints, choosing the epoch, early stopping, and the offset weight recorded at its end.

The run folder (``OUTPUT``) holds :data:`RUN_FILES`: ``model/`` (the selected epoch: a
``save_pretrained`` checkpoint + ``training_config.json``), ``state/`` (weights, optimiser,
scheduler, random state and progress, for ``--resume``), ``epochs/N`` (``--keep-epochs``),
``train.log``, ``training_config.json``, and for several seeds ``seeds/`` and ``seeds.json``.
Every file and folder is written whole (:mod:`relbert.io`'s atomic helpers): an interrupted run
leaves the previous state, never half of one. Rank 0 writes; every rank takes the same decisions.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple

from ..errors import ResumeError, UsageError
from ..atomic import atomic_folder, write_json_atomic
from ..io import warn_unknown_keys
from ..runtime import distributed
from ..evaluation.significance import paired_se
from .config import TrainConfig, check_resume, selection_score, selection_se, should_stop
from .state import RunParts, link_folder

#: Options earlier versions recorded in training_config.json and this one no longer has (0.1:
#: ``bf16``, now ``precision``): ignored on --resume without a warning.
REMOVED_OPTIONS = ("bf16",)
#: What a run folder may hold (refused without ``--resume`` or ``--overwrite``).
RUN_FILES = ("model", "state", "seeds", "epochs", "seeds.json", "train.log", "training_config.json")


def run_logger(output_dir: Path, rank: int, parent_log: Optional[Tuple[Path, str]], key: int) -> logging.Logger:
    """``train.log`` in the run folder (and, for one seed of several, the parent run's log with the
    seed named on each line), in a logger of its own (``key``: the trainer's id); rank 0 writes."""
    log = logging.getLogger(f"relbert.train.{key}")
    log.setLevel(logging.INFO)
    log.propagate = False
    if rank == 0:
        output_dir.mkdir(parents=True, exist_ok=True)
        for path, prefix in [(output_dir / "train.log", "")] + ([parent_log] if parent_log else []):
            handler = logging.FileHandler(path)
            handler.setFormatter(logging.Formatter("%(asctime)s " + (prefix + " " if prefix else "") + "%(message)s"))
            log.addHandler(handler)
    return log


class TrainingRun:
    """The whole run of a :class:`relbert.training.trainer.Trainer` (see :meth:`Trainer.train`). It
    knows the trainer only by what it is given: the parts its state saves and restores, the
    validators, and two calls (``train_epoch(epoch, partial, checkpoint, checkpoint_every)`` -> mean
    loss; ``validate()`` -> scores); ``report`` gets the lines a user reads (rank 0)."""

    def __init__(self, output_dir: Path, config: TrainConfig, parts: RunParts, validators: Dict[str, Callable], *,
                 train_epoch: Callable[..., float], validate: Callable[[], Dict[str, float]], log: logging.Logger,
                 rank: int = 0, report: Optional[Callable[[str], None]] = None):
        self.output_dir, self.config, self.parts, self.validators = Path(output_dir), config, parts, validators
        self.train_epoch, self.validate, self.log, self.rank, self.report = train_epoch, validate, log, rank, report
        self.state_dir = self.output_dir / "state"
        #: The per-question validation outcomes of the model to beat (in memory: after --resume the
        #: first new epoch compares by score alone).
        self._best_outcomes = None

    def run(self, resume: bool = False, on_epoch_end: Optional[Callable[[int], None]] = None,
            checkpoint_every: int = 0, on_checkpoint: Optional[Callable[[dict], None]] = None) -> dict:
        progress = self._start(resume)

        def save_partial(partial: dict) -> None:
            if self.rank == 0:
                self.parts.save(self.state_dir, {**progress, "partial": partial})
                self.log.info("checkpoint in epoch %d after %d relations", partial["epoch"] + 1, partial["items_done"])
            distributed.barrier()
            if on_checkpoint is not None:
                on_checkpoint(partial)

        for epoch in range(progress["epoch"], self.config.epochs):
            start = time.time()
            loss = self.train_epoch(epoch, progress.pop("partial", None), save_partial, checkpoint_every)
            record = {"epoch": epoch + 1, "loss": loss, "seconds": round(time.time() - start, 1)}
            if self.rank == 0:
                self._end_epoch(record, progress)
            progress["epoch"] = epoch + 1
            distributed.barrier()
            if on_epoch_end is not None:
                on_epoch_end(epoch)
            if self._stop_early(progress):
                self.log.info("stopped early after epoch %d (best epoch %s)", epoch + 1, progress["best_epoch"])
                progress["stopped_early"] = epoch + 1
                break
        return progress

    def _start(self, resume: bool) -> dict:
        """A new run's progress record, or the interrupted run's (its options checked; ``epochs``
        may grow under a constant schedule: the run is then extended)."""
        progress = {"epoch": 0, "best_epoch": None, "best_score": None, "history": []}
        extended = False
        if resume and not (self.state_dir / "state.json").is_file():
            # killed before its first saved state: nothing to continue, so the run starts from the start
            self.log.info("--resume: no saved state in %s: the run starts from the start", self.state_dir)
            if self.report is not None and self.rank == 0:
                self.report(f"--resume: no saved state in {self.state_dir} yet: starting from the start")
            resume = False
        if resume:
            # options added since the interrupted run was started take their defaults; removed ones are ignored
            defaults = asdict(TrainConfig())
            try:
                stored = json.loads((self.output_dir / "training_config.json").read_text())
                if not isinstance(stored, dict):
                    raise ValueError("not a JSON object")
            except (OSError, ValueError) as err:
                raise ResumeError(f"--resume: {self.output_dir / 'training_config.json'} is damaged "
                                  f"({str(err).splitlines()[0]}); start the run again with --overwrite") from None
            warn_unknown_keys(stored, [*defaults, *REMOVED_OPTIONS], str(self.output_dir / "training_config.json"))
            saved = {**defaults, **{k: v for k, v in stored.items() if k in defaults}}
            extended = check_resume(saved, asdict(self.config))
            try:
                progress = self.parts.load(self.state_dir)
                progress["epoch"]  # noqa: B018 - a record without it is not a saved state
            except Exception as err:  # noqa: BLE001 - json, safetensors and torch each raise their own
                problem = " ".join(str(err).split())[:160] or type(err).__name__
                raise ResumeError(f"--resume: the saved state in {self.state_dir} is damaged ({type(err).__name__}: "
                                  f"{problem}); start the run again with --overwrite") from None
            if extended:
                self.log.info("extending the run from %d to %d epochs", saved["epochs"], self.config.epochs)
            if progress.get("partial"):
                self.log.info("resumed in epoch %d after %d relations", progress["epoch"] + 1,
                              progress["partial"]["items_done"])
            else:
                self.log.info("resumed after epoch %d", progress["epoch"])
        if self.rank == 0 and (not resume or extended):  # a new run, or the extended one's new length
            self.output_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(self.output_dir / "training_config.json", asdict(self.config), indent=2)
        self.log.info("config %s", json.dumps(asdict(self.config)))
        if not resume and self.validators and self.parts.relbert.is_trained:
            self._score_start(progress)  # a trained starting model is the one to beat (the base never is)
        return progress

    def _scored(self, record: dict, scores: dict, *others: str) -> dict:
        """``record`` with the validation scores, the selection signal, its standard error and the
        ``others`` signals (by name) beside it."""
        sizes = {name: getattr(fn, "questions", 1) for name, fn in self.validators.items()}
        record.update(validation=scores, score=selection_score(scores, sizes, self.config.selection),
                      se=selection_se(scores, sizes, self.config.selection))
        record.update({name: selection_score(scores, sizes, name) for name in others})
        return record

    def _end_epoch(self, record: dict, progress: dict) -> None:
        """Validate, keep the epoch if it is the best so far, save the state and say the signal."""
        scores = self.validate()
        if scores:
            self._scored(record, scores, "mean", "weighted")
        else:
            record.update(validation=scores, score=-record["loss"])
        kept = None
        if self.config.keep_epochs:
            kept = self.output_dir / "epochs" / str(record["epoch"])
            self.save_model(kept, record)
        outcomes = self._outcomes() if scores else None
        better = progress["best_score"] is None or record["score"] > progress["best_score"]
        if better and outcomes is not None and self._best_outcomes is not None:  # no choice on noise
            gain, se = record["score"] - progress["best_score"], paired_se(outcomes, self._best_outcomes,
                                                                           self.config.selection)
            if gain <= se:
                better = False
                record["within_noise"] = {"of_epoch": progress["best_epoch"], "gain": gain, "se": se}
        if better:
            self._best_outcomes = outcomes
            progress["best_score"], progress["best_epoch"] = record["score"], record["epoch"]
            if kept is not None:  # the kept epoch's files, linked: not a second copy
                link_folder(kept, self.output_dir / "model")
            else:
                self.save_model(self.output_dir / "model", record)
        progress["history"].append(record)
        self.parts.save(self.state_dir, {**progress, "epoch": record["epoch"]})
        self.log.info("epoch %s", json.dumps(record))
        if self.report is not None:  # the signal and its noise, every epoch
            said = (f"validation {record['score']:.2f} +/- {record['se']:.2f} ({self.config.selection})" if scores
                    else "")
            noise = record.get("within_noise")
            kept = (f"; {noise['gain']:+.2f} over epoch {noise['of_epoch']} is within one standard error of the "
                    f"paired difference ({noise['se']:.2f}): epoch {noise['of_epoch']} stays") if noise else ""
            self.report(f"epoch {record['epoch']}: {said}{', ' if said else ''}mean loss {record['loss']:.3f}, "
                        f"{record['seconds']:.0f} s{kept}")

    def _score_start(self, progress: dict) -> None:
        """A trained starting model, scored on the validation sets before epoch 1 and saved as
        ``model/``: an epoch replaces it only by beating it, so fine-tuning never ends with a model
        worse on validation than the one it started from (``best_epoch`` 0 says it kept it)."""
        if self.rank == 0:
            record = self._scored({"epoch": 0}, self.validate())
            self._best_outcomes = self._outcomes()
            self.save_model(self.output_dir / "model", record)
            progress["start"] = record
            progress["best_score"], progress["best_epoch"] = record["score"], 0
            self.log.info("starting model %s", json.dumps(record))
            if self.report is not None:  # the score to beat, before epoch 1
                self.report(f"starting model: validation {record['score']:.2f} +/- {record['se']:.2f} "
                            f"({self.config.selection}): an epoch replaces it only by more than the noise")
        distributed.barrier()

    def _outcomes(self):
        """Each validation set's per-question outcomes of the last validation, or None where a
        validator does not keep them (then epochs compare by score alone)."""
        found = {name: getattr(fn, "last_correct", None) for name, fn in self.validators.items()}
        return None if any(v is None for v in found.values()) else found

    def _stop_early(self, progress: dict) -> bool:
        """The same decision on every rank: rank 0 decides and broadcasts it."""
        stop = False
        if self.rank == 0:
            history = [r["score"] for r in progress["history"]]
            stop = should_stop(history, progress["best_epoch"] - 1, self.config.patience, self.config.min_epochs)
        return distributed.rank0_decides(stop)

    def save_model(self, folder: Path, record: dict) -> None:
        """The model as it is now, with its ``training_config.json`` (options, the selected epoch and
        its validation), replacing ``folder`` whole."""
        from .lora import merged_lora_state

        with atomic_folder(folder) as tmp:
            relbert = self.parts.relbert
            relbert.save_pretrained(tmp, state_dict=merged_lora_state(relbert.encoder) if self.config.lora_rank else None)
            config = {**asdict(self.config), "selected_epoch": record["epoch"], "validation": record.get("validation")}
            write_json_atomic(tmp / "training_config.json", config, indent=2)
            from ..models.card import facts_of, write_card

            write_card(tmp, facts_of(relbert), config)  # the card says how it was trained


def interrupted_line(output: Path) -> str:
    """What Ctrl-C kept of a run and how to continue it."""
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


def check_run_folder(output: Path, resume: bool, overwrite: bool) -> None:
    """A second run into the same folder is refused (one line) unless it resumes or overwrites."""
    import shutil

    if resume and overwrite:
        raise UsageError("--resume continues the run in OUTPUT and --overwrite replaces it: choose one")
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


def record_offset_choice(model_dir: Path, validators: Dict, weights: Sequence[float], device: Optional[str],
                         say: Callable[[str], None]) -> Optional[float]:
    """The saved model's offset weight, chosen on the run's validation sets (relbert-eval
    choose-offset's rule, no change on noise) and recorded in its config.json, training_config.json
    and card; None where there is nothing to choose on."""
    from ..evaluation.offset_choice import choose_for_saved_model
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
