"""Recompute analogy accuracy independently of relbert's evaluator (run by hand for reports).

Reads the JSONL files with the json module (not relbert.data), embeds every distinct pair once
with ``RelBERT.embed`` and picks each question's answer with numpy (highest cosine to the stem;
ties to the first choice, as numpy's argmax). With ``--report`` it compares each figure with a
``relbert-eval analogy -o`` report of the same model and split, and fails on any difference.

    relbert-eval analogy --model M --split test --data-dir DATA -o report.json -q
    python tools/recompute_analogy.py --model M --split test --data-dir DATA --report report.json
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np


def questions(path):
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="default: the embedded default model")
    parser.add_argument("--split", default="test", choices=["valid", "test"])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--dataset", action="append", help="default: every folder under DATA/analogy")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--report", help="relbert-eval analogy JSON report to compare with")
    args = parser.parse_args(argv)

    from relbert import RelBERT

    model = RelBERT.from_pretrained(args.model, precision=args.precision)  # None: the embedded default
    root = Path(args.data_dir) / "analogy"
    names = args.dataset or sorted(p.name for p in root.iterdir() if (p / f"{args.split}.jsonl").is_file())
    report = json.loads(Path(args.report).read_text())["datasets"] if args.report else {}
    differences = 0
    print("| dataset | questions | accuracy (numpy) | relbert-eval |\n|---|---:|---:|---:|")
    for name in names:
        records = questions(root / name / f"{args.split}.jsonl")
        pairs = sorted({tuple(p) for r in records for p in [r["stem"], *r["choice"]]})
        index = {p: i for i, p in enumerate(pairs)}
        vectors = model.embed(pairs, normalize=False).astype(np.float64)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        correct = 0
        for r in records:
            stem = vectors[index[tuple(r["stem"])]]
            cosines = [float(vectors[index[tuple(c)]] @ stem) for c in r["choice"]]
            correct += int(np.argmax(cosines)) == r["answer"]
        accuracy = 100.0 * correct / len(records)
        theirs = report.get(name, {}).get("accuracy")
        same = theirs is None or abs(theirs - accuracy) < 1e-9
        differences += not same
        shown = "–" if theirs is None else f"{theirs:.2f}" + ("" if same else " (DIFFERS)")
        print(f"| {name} | {len(records)} | {accuracy:.2f} | {shown} |", flush=True)
    if differences:
        sys.exit(f"{differences} dataset(s) differ from {args.report}")


if __name__ == "__main__":
    main()
