"""The pairs of the README's relation map: the first 50 usable pairs of each of BATS 3.0's 40
relation files (the first answer of each line), with the relation as the label.

    python tools/bats_pairs.py ../shared/data/bats_3.0 -o bats.tsv --labels bats.labels
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the raw BATS 3.0 folder (four subfolders of relation files)")
    parser.add_argument("-o", "--output", required=True, type=Path, help="pairs file to write")
    parser.add_argument("--labels", required=True, type=Path, help="labels file to write (one a line)")
    parser.add_argument("--per-relation", type=int, default=50)
    args = parser.parse_args()
    rows = []
    for path in sorted(args.folder.glob("*/*.txt")):
        label = re.search(r"\[(.*)\]", path.name).group(1)
        taken = 0
        for line in path.read_text(encoding="utf-8").splitlines():
            fields = line.split("\t")
            if len(fields) != 2:
                continue
            head, tail = fields[0].strip(), fields[1].split("/")[0].strip()
            if head and tail and head != tail and taken < args.per_relation:
                rows.append((head, tail, label))
                taken += 1
    args.output.write_text("".join(f"{h}\t{t}\n" for h, t, _ in rows), encoding="utf-8")
    args.labels.write_text("".join(f"{label}\n" for _, _, label in rows), encoding="utf-8")
    print(f"{len(rows)} pairs from {len({r[2] for r in rows})} relations")


if __name__ == "__main__":
    main()
