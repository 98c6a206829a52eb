"""Relation mapping problems (Turney 2008): JSONL, one problem a line.

``{"id": "a1", "source": [...], "target": [...], "target_random": [...], ...}`` where
``target[i]`` is the gold image of ``source[i]`` and ``target_random`` holds the same terms
shuffled (the search space). Other fields (``agreement``, ``pos``, ``reference``) are kept
untouched and not used.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Union

from ..errors import InputError
from ..io import iter_json_records

#: Largest problem searched exhaustively (10! = 3.6 M permutations, a few seconds).
MAX_TERMS = 10


@dataclass
class MappingProblem:
    id: str
    source: List[str]
    target: List[str]
    target_random: List[str]


def _terms(record, key, source, lineno) -> List[str]:
    value = record.get(key)
    if not isinstance(value, list) or not all(isinstance(w, str) for w in value):
        raise InputError(source, lineno, f"{key} must be a list of words, got {json.dumps(value)[:80]}")
    if not all(w.strip() for w in value):
        raise InputError(source, lineno, f"{key} has an empty word")
    repeated = sorted({w for w in value if value.count(w) > 1})
    if repeated:
        raise InputError(source, lineno, f"{key} repeats the term {repeated[0]!r}")
    return value


def read_mapping_file(path: Union[str, Path]) -> List[MappingProblem]:
    """Read and validate a relation mapping JSONL file.

    Raises:
        InputError: ``FILE:LINE: why`` for bad JSON, a missing or malformed list, a repeated or
            empty term, fewer than 2 terms, more than :data:`MAX_TERMS`, source and target of
            different sizes, or ``target_random`` not a permutation of ``target``.
    """
    path = Path(path)
    source = str(path)
    problems: List[MappingProblem] = []
    for lineno, record in iter_json_records(path, "problem"):
        for key in ("source", "target", "target_random"):
            if key not in record:
                raise InputError(source, lineno, f"missing field {key!r}")
        src, tgt, rnd = (_terms(record, k, source, lineno) for k in ("source", "target", "target_random"))
        if len(src) < 2:
            raise InputError(source, lineno, f"a problem needs at least 2 terms, got {len(src)}")
        if len(src) > MAX_TERMS:
            raise InputError(source, lineno, f"{len(src)} terms: the exhaustive search handles at most {MAX_TERMS} "
                                             f"({MAX_TERMS}! permutations)")
        if len(tgt) != len(src):
            raise InputError(source, lineno, f"source has {len(src)} terms but target has {len(tgt)}")
        if sorted(rnd) != sorted(tgt):
            raise InputError(source, lineno, "target_random is not a permutation of target")
        problem_id = record.get("id", f"line {lineno}")
        problems.append(MappingProblem(str(problem_id), src, tgt, rnd))
    if not problems:
        raise InputError(source, 1, "no problems in the file")
    return problems


def resolve_mapping(name_or_path: str, data_dir: Optional[Path]) -> List[MappingProblem]:
    """``relation_mapping`` (``data_dir/relation_mapping/data.jsonl``) or a JSONL path."""
    path = Path(name_or_path)
    if path.suffix == ".jsonl" or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"relation mapping file not found: {path}")
        return read_mapping_file(path)
    if data_dir is None:
        raise FileNotFoundError(f"{name_or_path!r} is not a file and no data folder was found "
                                "(run relbert-download data, pass --data-dir or set RELBERT_DATA)")
    path = data_dir / name_or_path / "data.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"unknown relation mapping dataset {name_or_path!r}: {path} not found (run "
                                "relbert-download data, or pass --data-dir)")
    return read_mapping_file(path)
