"""Seeds as a choice: independent runs, each to its stopping rule, and the best one kept.

``OUTPUT/seeds/<seed>/`` holds each run (its own ``model/``, ``state/``, ``train.log``);
``OUTPUT/model/`` is the winner's model (hard links), chosen by the same selection score that
chose each run's epoch; ``OUTPUT/train.log`` has every seed's epochs, and ``OUTPUT/seeds.json``
every seed's curve and the winner. With ``resume`` finished seeds are kept, an interrupted one
continues from its state, and the seeds not started yet start.
"""
from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional

from ..errors import OptionError, ResumeError
from .config import TrainConfig, check_resume
from .state import link_folder

SUMMARY = "seeds.json"


def parse_seeds(text: str) -> List[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]`` (distinct integers, in the order given)."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise OptionError(f"--seeds {text!r}: give comma-separated integers, e.g. 0,1,2") from None
    if not seeds:
        raise OptionError("--seeds names no seed")
    if len(set(seeds)) != len(seeds):
        raise OptionError(f"--seeds {text!r}: a seed appears twice")
    if any(not 0 <= s < 2**32 for s in seeds):
        raise OptionError(f"--seeds {text!r}: seeds are integers from 0 to {2**32 - 1}")
    return seeds


def _write_json(path: Path, data) -> None:
    from ..atomic import write_json_atomic

    write_json_atomic(path, data, indent=1)


def train_seeds(config: TrainConfig, seeds: List[int], relations, output_dir, validators: Optional[Dict] = None, *,
                device: Optional[str] = None, show_progress: bool = True, resume: bool = False,
                checkpoint_every: int = 0, report: Optional[Callable[[str], None]] = None) -> dict:
    """Train one run per seed and keep the best by validation.

    Returns:
        The summary written to ``OUTPUT/seeds.json``: per seed its best epoch, best score and
        history, and ``winner`` (the seed whose model is in ``OUTPUT/model``).
    """
    from .trainer import Trainer

    output = Path(output_dir)
    summary_path = output / SUMMARY
    options = {**asdict(config), "seed": None, "seeds": seeds}
    if resume:
        if not summary_path.is_file():
            raise ResumeError(f"--resume: no multi-seed run in {output} ({SUMMARY} is missing)")
        summary = json.loads(summary_path.read_text())
        if check_resume(summary["options"], options):  # more epochs: seeds that ran to the end continue
            for record in summary["seeds"].values():
                if not record.get("stopped_early") and len(record.get("history", [])) < config.epochs:
                    record["finished"] = False
            summary["options"] = options
            _write_json(summary_path, summary)
    else:
        output.mkdir(parents=True, exist_ok=True)
        summary = {"options": options, "selection": config.selection, "seeds": {}, "winner": None}
        _write_json(summary_path, summary)
    lower_cache: dict = {}  # frozen layers' outputs are the same for every seed: computed once
    for seed in seeds:
        if summary["seeds"].get(str(seed), {}).get("finished"):
            continue
        run_dir = output / "seeds" / str(seed)
        again = resume and (run_dir / "state" / "state.json").is_file()
        if report is not None:
            report(f"seed {seed}: {'resuming' if again else 'training'} in {run_dir}")
        trainer = Trainer(replace(config, seed=seed), relations, run_dir, validators, device=device,
                          show_progress=show_progress, report=report if seed == seeds[0] else None,
                          lower_cache=lower_cache, parent_log=(output / "train.log", f"seed {seed}"),
                          teacher_file=output / "teacher.npy")  # the teacher labels once for every seed
        progress = trainer.train(resume=again, checkpoint_every=checkpoint_every)
        if trainer.rank != 0:
            continue
        summary["seeds"][str(seed)] = {"finished": True, "best_epoch": progress["best_epoch"],
                                       "best_score": progress["best_score"], "history": progress["history"],
                                       "stopped_early": progress.get("stopped_early")}
        _write_json(summary_path, summary)
        if report is not None:
            report(f"seed {seed}: best epoch {progress['best_epoch']} (validation {progress['best_score']:.2f})")
    finished = {int(s): r for s, r in summary["seeds"].items() if r.get("finished")}
    if finished:
        winner = max(sorted(finished), key=lambda s: finished[s]["best_score"])  # ties: the first seed
        link_folder(output / "seeds" / str(winner) / "model", output / "model")
        summary["winner"] = winner
        _write_json(summary_path, summary)
    return summary
