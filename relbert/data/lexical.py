"""Lexical relation classification data: ``head<TAB>tail<TAB>label`` lines.

LexNET-style folders have ``train.tsv``, ``val.tsv``, ``test.tsv``; CogALex-V has
``CogALexV_{train,test}_v1/gold_task2.txt`` in the same three columns and no validation split.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from ..errors import InputError
from ..io import decode_line
from .paths import folder_any_case

Pair = Tuple[str, str]


@dataclass
class LabeledPairs:
    pairs: List[Pair]
    labels: List[str]

    def __len__(self) -> int:
        return len(self.pairs)


def read_labeled_pairs(path: Union[str, Path]) -> LabeledPairs:
    """Read ``head<TAB>tail<TAB>label`` lines; errors name FILE:LINE."""
    source = str(path)
    pairs, labels = [], []
    with open(path, "rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            text = decode_line(raw, source, lineno).rstrip("\r\n")
            fields = text.split("\t")
            if len(fields) != 3:
                raise InputError(source, lineno, f"expected 3 tab-separated fields (head, tail, label), found {len(fields)}")
            head, tail, label = (f.strip() for f in fields)
            if not head or not tail or not label:
                raise InputError(source, lineno, "empty head, tail or label")
            pairs.append((head, tail))
            labels.append(label)
    return LabeledPairs(pairs, labels)


def read_lexical_dataset(folder: Union[str, Path]) -> Dict[str, LabeledPairs]:
    """Splits of one dataset folder: ``{"train", "test"}`` plus ``"val"`` where present."""
    folder = Path(folder)
    if (folder / "train.tsv").is_file():
        splits = {s: folder / f"{s}.tsv" for s in ("train", "val", "test") if (folder / f"{s}.tsv").is_file()}
    else:
        found = {p.parent.name.lower(): p for p in folder.glob("*/gold_task2.txt")}
        splits = {s: p for s in ("train", "test") for name, p in found.items() if f"_{s}" in name}
    if "train" not in splits or "test" not in splits:
        raise FileNotFoundError(f"{folder}: expected train and test splits (train.tsv/test.tsv or */gold_task2.txt)")
    return {split: read_labeled_pairs(path) for split, path in splits.items()}


def available_lexical(data_dir: Path) -> List[str]:
    root = data_dir / "lexical_relation"
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def resolve_lexical(name_or_path: str, data_dir: Optional[Path]) -> Tuple[str, Dict[str, LabeledPairs]]:
    path = Path(name_or_path)
    if path.is_dir():
        return path.name, read_lexical_dataset(path)
    folder = folder_any_case(data_dir / "lexical_relation", name_or_path) if data_dir is not None else None
    if folder is None or not folder.is_dir():
        from .paths import known_or_fetch

        known = known_or_fetch("lexical sets", available_lexical(data_dir), data_dir) if data_dir else \
            "no data folder (run relbert-download data, or pass --data-dir)"
        raise FileNotFoundError(f"unknown lexical relation dataset {name_or_path!r}; {known}")
    return folder.name, read_lexical_dataset(folder)
