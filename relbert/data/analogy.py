"""Analogy questions: JSONL, one question a line.

``{"stem": [h, t], "choice": [[h, t], ...], "answer": i, "prefix": "group"}`` where ``answer``
is the 0-based index of the correct choice; ``prefix`` (optional) names a group for reports.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple, Union

from ..errors import InputError
from ..io import iter_json_records
from .paths import folder_any_case

Pair = Tuple[str, str]


@dataclass
class AnalogyQuestion:
    stem: Pair
    choice: List[Pair]
    answer: int
    prefix: Optional[str] = None


@dataclass
class AnalogyDataset:
    name: str
    path: Path
    questions: List[AnalogyQuestion] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.questions)


def _pair(value, source, lineno, what) -> Pair:
    if not isinstance(value, list) or len(value) != 2 or not all(isinstance(w, str) for w in value):
        raise InputError(source, lineno, f"{what} must be a pair of two words, got {json.dumps(value)[:80]}")
    if not all(w.strip() for w in value):
        raise InputError(source, lineno, f"{what} has an empty word")
    return value[0], value[1]


def read_analogy_file(path: Union[str, Path], name: Optional[str] = None) -> AnalogyDataset:
    """Read and validate an analogy JSONL file.

    Raises:
        InputError: ``FILE:LINE: why`` for bad JSON, a missing field, a pair that is not two
            words, empty choices, or an answer out of range.
    """
    path = Path(path)
    source = str(path)
    dataset = AnalogyDataset(name or path.stem, path)
    for lineno, record in iter_json_records(path, "question"):
        for key in ("stem", "choice", "answer"):
            if key not in record:
                raise InputError(source, lineno, f"missing field {key!r}")
        stem = _pair(record["stem"], source, lineno, "stem")
        if not isinstance(record["choice"], list) or not record["choice"]:
            raise InputError(source, lineno, "choice must be a non-empty list of pairs")
        choice = [_pair(c, source, lineno, f"choice {i}") for i, c in enumerate(record["choice"])]
        answer = record["answer"]
        if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(choice):
            raise InputError(source, lineno, f"answer {answer!r} out of range for {len(choice)} choices")
        prefix = record.get("prefix")
        dataset.questions.append(AnalogyQuestion(stem, choice, answer, None if prefix is None else str(prefix)))
    if not dataset.questions:
        raise InputError(source, 1, "no questions in the file")
    return dataset


def resolve_analogy(name_or_path: str, split: str, data_dir: Optional[Path]) -> AnalogyDataset:
    """A dataset name (``u2``, ``bats``, ...) under ``data_dir/analogy/NAME/SPLIT.jsonl``, or a path."""
    path = Path(name_or_path)
    if path.suffix == ".jsonl" or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"analogy file not found: {path}")
        return read_analogy_file(path)
    if data_dir is None:
        raise FileNotFoundError(f"{name_or_path!r} is not a file and no data folder was found "
                                "(run relbert-download data, pass --data-dir or set RELBERT_DATA)")
    folder = folder_any_case(data_dir / "analogy", name_or_path)
    path = folder / f"{split}.jsonl"
    if not path.is_file():
        from .paths import known_or_fetch

        known = sorted(p.name for p in (data_dir / "analogy").iterdir() if p.is_dir()) if (data_dir / "analogy").is_dir() else []
        raise FileNotFoundError(f"unknown analogy dataset {name_or_path!r} (split {split}); "
                                f"{known_or_fetch('analogy sets', known, data_dir)}")
    return read_analogy_file(path, name=folder.name)


def available_analogy(data_dir: Path) -> List[str]:
    """Names of the analogy datasets under ``data_dir/analogy`` (``analogy/NAME/test.jsonl``)."""
    root = data_dir / "analogy"
    return sorted(p.name for p in root.iterdir() if (p / "test.jsonl").is_file()) if root.is_dir() else []
