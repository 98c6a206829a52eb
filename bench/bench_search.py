"""Approximate relation search against the exact scan, side by side on one collection (issue 23).

Needs an embedded collection of real relation vectors (millions of rows; kept outside the repo):

    python bench/bench_search.py --write-pairs 2000000 pairs2m.tsv  # real words of ../shared/data
    relbert-embed pairs2m.tsv -o v2m.npy --precision int8          # 0.5-3.5 h on 2 cores
    RELBERT_SEARCH_VECTORS=v2m.npy RELBERT_SEARCH_PAIRS=pairs2m.tsv \\
        python -m pytest bench/bench_search.py --benchmark-only -p no:cacheprovider

Reported per index kind: build time and peak RSS (a fresh ``relbert-index`` process), index size
against the fp32 vectors, query latency for 100 queries one at a time and batched (best of 3
rounds), and recall@10 against the exact scan measured in the same run. Skipped without the
collection.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

VECTORS = os.environ.get("RELBERT_SEARCH_VECTORS")
PAIRS = os.environ.get("RELBERT_SEARCH_PAIRS")
pytestmark = [pytest.mark.skipif(not (VECTORS and PAIRS), reason="set RELBERT_SEARCH_VECTORS and RELBERT_SEARCH_PAIRS"),
              pytest.mark.filterwarnings("ignore:Benchmark fixture was not used")]
ROWS: list = []
N_QUERIES, K = 100, 10
#: relbert-index in a fresh process that prints its own peak RSS (KiB) at the end: VmHWM, not
#: ru_maxrss, which Linux carries over from the forking parent across exec.
BUILD = """
import sys
from relbert.cli import index
try:
    index(sys.argv[1:], standalone_mode=False)
finally:
    print(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
"""


@pytest.fixture(autouse=True)
def _counted_as_benchmarks(benchmark):
    return benchmark


def best_of(run, rounds=3):
    """``(result, seconds of the fastest of rounds calls)``: the first call also maps the pages
    of the rows it reads, which later calls (and a long-running search service) do not pay."""
    best, result = float("inf"), None
    for _ in range(rounds):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return result, best


def record(name, value, unit, note=""):
    ROWS.append({"figure": name, "value": round(float(value), 4), "unit": unit, "note": note})


@pytest.fixture(scope="module")
def setup():
    from relbert.search.exact import RelationIndex

    exact = RelationIndex.load(VECTORS, PAIRS)
    rng = np.random.default_rng(0)
    # queries: collection rows perturbed (a query pair's vector is near, not at, its neighbours)
    picks = np.sort(rng.choice(len(exact.pairs), N_QUERIES, replace=False))
    queries = np.asarray(exact.vectors[picks], dtype=np.float32)
    queries += 0.05 * rng.standard_normal(queries.shape).astype(np.float32)
    exact.search(queries[:10], K)  # warm-up: the collection's pages into the page cache, thread pools up
    truth, batched = best_of(lambda: exact.search(queries, K))
    start = time.perf_counter()
    for q in queries[:10]:
        exact.search(q[None], K)
    single = (time.perf_counter() - start) / 10
    rows, dim = exact.vectors.shape
    record(f"exact scan of {rows:,} x {dim}: one query", single * 1e3, "ms")
    record(f"exact scan: {N_QUERIES} queries batched, per query", batched / N_QUERIES * 1e3, "ms")
    return exact, queries, truth, single, batched


KINDS = os.environ.get("RELBERT_SEARCH_KINDS", "ivfpq").split(",")  # hnsw: a long build at millions of rows


@pytest.mark.parametrize("kind, options", [(kind, []) for kind in KINDS])
def test_index_against_the_exact_scan(setup, tmp_path, kind, options):
    from relbert.search.exact import RelationIndex

    exact, queries, truth, exact_single, exact_batched = setup
    out = tmp_path / f"{kind}.index"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", BUILD, VECTORS, "-o", str(out), "--kind", kind, "-q", *options],
                          check=True, capture_output=True, text=True)
    build = time.perf_counter() - start
    rss = int(proc.stdout.split()[-1]) * 1024  # VmHWM is in KiB
    size = out.stat().st_size
    fp32 = exact.vectors.nbytes
    record(f"{kind}: build", build, "s")
    record(f"{kind}: index size", size / 2**20, "MiB", f"{size / fp32:.3f} of the fp32 vectors")
    bound = size + 65536 * exact.vectors.shape[1] * 4 + 500 * 2**20
    record(f"{kind}: build peak RSS (relbert-index process)", rss / 2**20, "MiB",
           f"bound: index + one chunk + 500 MB = {bound / 2**20:.0f} MiB")
    approx = RelationIndex.load(VECTORS, PAIRS, index=out)
    approx.search(queries[:10], K)  # warm-up, as for the exact scan
    got, batched = best_of(lambda: approx.search(queries, K))
    start = time.perf_counter()
    for q in queries:
        approx.search(q[None], K)
    single = (time.perf_counter() - start) / len(queries)
    recall = np.mean([len({r for _, _, r in g} & {r for _, _, r in t}) / K for g, t in zip(got, truth)])
    record(f"{kind}: one query", single * 1e3, "ms", f"{exact_single / single:.1f}x faster than the exact scan")
    record(f"{kind}: {N_QUERIES} queries batched, per query", batched / len(queries) * 1e3, "ms",
           f"{exact_batched / batched:.1f}x faster than the exact scan batched")
    record(f"{kind}: recall@{K} against the exact scan", recall, "", f"refine {approx.refine}, {approx.ann_record.search}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--write-pairs":
        # the data's pairs (both orders), then distinct recombinations of their words
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from bench_gpu import real_pairs

        chosen = real_pairs(int(sys.argv[2]))
        with open(sys.argv[3], "w", encoding="utf-8") as handle:
            handle.writelines(f"{h}\t{t}\n" for h, t in chosen)
        print(f"wrote {len(chosen)} pairs to {sys.argv[3]}")
    else:
        print(__doc__)
