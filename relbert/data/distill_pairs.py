"""Word pairs to distil a teacher's relation vectors into a student, with no evaluation item
among them.

Sources (all from training material): the ``train`` splits of the lexical-relation sets, the
SemEval-2012 training pairs, and recombinations of their words (pairs of words that each occur
in a source pair, drawn at random: relation space beyond the labelled pairs). The leakage filter
removes every pair that an evaluation or validation step embeds, in either order and
case-folded: the analogy ``test`` and ``valid`` splits (stems and choices), the lexical ``val``
and ``test`` splits, the relation-mapping problems (every ordered pair of source terms and of
target terms) and the SemEval validation part.

    python -m relbert.cli.tools_command distill-pairs -o pairs.tsv --recombined 60000 --data-dir DATA
"""
from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, Set, Tuple

Pair = Tuple[str, str]


def fold(pair: Pair) -> Pair:
    """The case-folded, stripped pair: the key the filter compares."""
    return (pair[0].strip().casefold(), pair[1].strip().casefold())


def _both_orders(pairs: Iterable[Pair]) -> Set[Pair]:
    out = set()
    for pair in pairs:
        key = fold(pair)
        out.add(key)
        out.add((key[1], key[0]))
    return out


def evaluation_pairs(data_dir: Path) -> Dict[str, Set[Pair]]:
    """Per evaluation source (``analogy/u2/test``, ``lexical/BLESS/val``, ``mapping``,
    ``semeval/valid``, ...), the set of case-folded pairs it embeds, in both orders."""
    from .analogy import read_analogy_file
    from .lexical import read_lexical_dataset
    from .mapping import read_mapping_file
    from .semeval import load_semeval

    data_dir = Path(data_dir)
    sources: Dict[str, Set[Pair]] = {}
    for path in sorted((data_dir / "analogy").glob("*/*.jsonl")):
        if path.stem in ("test", "valid"):
            dataset = read_analogy_file(path)
            sources[f"analogy/{path.parent.name}/{path.stem}"] = _both_orders(
                [q.stem for q in dataset.questions] + [c for q in dataset.questions for c in q.choice])
    lexical = data_dir / "lexical_relation"
    for folder in sorted(p for p in lexical.iterdir() if p.is_dir()) if lexical.is_dir() else []:
        for split, pairs in read_lexical_dataset(folder).items():
            if split != "train":
                sources[f"lexical/{folder.name}/{split}"] = _both_orders(pairs.pairs)
    mapping = data_dir / "relation_mapping" / "data.jsonl"
    if mapping.is_file():
        terms = [(p.source, p.target) for p in read_mapping_file(mapping)]
        sources["mapping"] = _both_orders((a, b) for group in terms for side in group for a in side for b in side if a != b)
    semeval = data_dir / "semeval2012_task2"
    if semeval.is_dir():
        valid = load_semeval(semeval)[1]
        sources["semeval/valid"] = _both_orders(p for r in valid for p in list(r.positives) + list(r.negatives))
    return sources


def filter_leakage(pairs: Iterable[Pair], forbidden: Dict[str, Set[Pair]]) -> Tuple[List[Pair], Dict[str, int]]:
    """``(kept, removed)``: the pairs that no evaluation source embeds (in either order,
    case-folded), and per source how many pairs it removed (a pair in two sources counts in both).
    Duplicates (case-folded) are kept once."""
    kept, seen, removed = [], set(), Counter()
    for pair in pairs:
        key = fold(pair)
        if key in seen:
            continue
        seen.add(key)
        hits = [name for name, keys in forbidden.items() if key in keys]
        if hits:
            removed.update(hits)
            continue
        kept.append(pair)
    return kept, dict(sorted(removed.items()))


def training_pairs(data_dir: Path) -> Dict[str, List[Pair]]:
    """The source pairs per source: each lexical set's ``train`` split and the SemEval training
    pairs (positives and negatives)."""
    from .lexical import read_lexical_dataset
    from .semeval import load_semeval

    data_dir = Path(data_dir)
    sources: Dict[str, List[Pair]] = {}
    lexical = data_dir / "lexical_relation"
    for folder in sorted(p for p in lexical.iterdir() if p.is_dir()) if lexical.is_dir() else []:
        sources[f"lexical/{folder.name}/train"] = list(read_lexical_dataset(folder)["train"].pairs)
    semeval = data_dir / "semeval2012_task2"
    if semeval.is_dir():
        sources["semeval/train"] = [p for r in load_semeval(semeval)[0] for p in list(r.positives) + list(r.negatives)]
    return sources


def recombine(pairs: List[Pair], count: int, seed: int = 0) -> List[Pair]:
    """``count`` random pairs of two different words that occur in ``pairs`` (heads with tails of
    other pairs), seeded."""
    rng = random.Random(seed)
    heads = sorted({h for h, _ in pairs})
    tails = sorted({t for _, t in pairs})
    out, tries = [], 0
    while len(out) < count and tries < 20 * count:
        tries += 1
        head, tail = rng.choice(heads), rng.choice(tails)
        if head.casefold() != tail.casefold():
            out.append((head, tail))
    return out


def build(data_dir: Path, recombined: int = 0, seed: int = 0) -> Tuple[List[Pair], dict]:
    """The distillation pairs and a report: per source the pairs taken, and per evaluation source
    the pairs the leakage filter removed."""
    sources = training_pairs(data_dir)
    pairs = [p for name in sorted(sources) for p in sources[name]]
    if recombined:
        pairs += recombine(pairs, recombined, seed)
    kept, removed = filter_leakage(pairs, evaluation_pairs(data_dir))
    report = {"sources": {name: len(v) for name, v in sorted(sources.items())}, "recombined": recombined,
              "candidates": len(pairs), "kept": len(kept), "removed_by": removed}
    return kept, report
