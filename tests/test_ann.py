"""Approximate relation search (relbert/ann.py, relbert-index, relbert-search --index) on
generated clustered collections: refined results equal the exact scan when the refine factor
covers the collection, recall at the defaults, every error, save/load round trips, bounded reads."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

faiss = pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install faiss-cpu)")

from relbert import ann  # noqa: E402
from relbert.search import RelationIndex  # noqa: E402


def clustered(rows, dim, clusters, seed=0):
    """Unit vectors around ``clusters`` random centres (so that neighbours and recall mean something)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    points = centres[rng.integers(0, clusters, rows)] + 0.35 * rng.standard_normal((rows, dim)).astype(np.float32)
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ann")
    vectors = clustered(20000, 64, 64)
    np.save(folder / "v.npy", vectors)
    pairs = [(f"h{i}", f"t{i}") for i in range(len(vectors))]
    (folder / "p.tsv").write_text("".join(f"{h}\t{t}\n" for h, t in pairs), encoding="utf-8")
    return folder, vectors


def exact_top(vectors, queries, k):
    scores = queries @ vectors.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("kind", ann.KINDS)
def test_refined_results_equal_the_exact_scan_when_refine_covers_the_collection(collection, tmp_path, kind):
    folder, vectors = collection
    small = vectors[:2000]
    np.save(tmp_path / "s.npy", small)
    (tmp_path / "s.tsv").write_text("".join(f"h{i}\tt{i}\n" for i in range(len(small))), encoding="utf-8")
    params = {"nlist": 16, "m": 8} if kind == "ivfpq" else None
    built, record = ann.build_index(np.load(tmp_path / "s.npy", mmap_mode="r"), kind, params)
    ann.save_index(built, record, tmp_path / "s.index")
    approx = RelationIndex.load(tmp_path / "s.npy", tmp_path / "s.tsv", index=tmp_path / "s.index", refine=200,
                                nprobe=16)
    exact = RelationIndex.load(tmp_path / "s.npy", tmp_path / "s.tsv")
    queries = small[:20] + 0.1 * np.random.default_rng(1).standard_normal((20, 64)).astype(np.float32)
    got, want = approx.search(queries, k=10), exact.search(queries, k=10)
    assert [[row for _, _, row in hits] for hits in got] == [[row for _, _, row in hits] for hits in want]
    np.testing.assert_allclose([[s for _, s, _ in h] for h in got], [[s for _, s, _ in h] for h in want], atol=1e-5)


def test_recall_at_the_default_settings(collection, tmp_path):
    folder, vectors = collection
    built, record = ann.build_index(np.load(folder / "v.npy", mmap_mode="r"))
    assert record.kind == "ivfpq" and record.params["m"] == 8  # 8 bytes a vector: 1/32 of fp32
    ann.save_index(built, record, tmp_path / "v.index")
    index = RelationIndex.load(folder / "v.npy", folder / "p.tsv", index=tmp_path / "v.index")
    rng = np.random.default_rng(2)
    queries = vectors[rng.integers(0, len(vectors), 100)] + 0.2 * rng.standard_normal((100, 64)).astype(np.float32)
    want = exact_top(vectors, queries / np.linalg.norm(queries, axis=1, keepdims=True), 10)
    got = np.array([[row for _, _, row in hits] for hits in index.search(queries, k=10)])
    recall = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want)])
    assert recall >= 0.95, recall
    assert (tmp_path / "v.index").stat().st_size <= vectors.nbytes / 8


def test_index_round_trips_through_save_and_load(collection, tmp_path):
    folder, vectors = collection
    built, record = ann.build_index(vectors[:3000], "hnsw")
    ann.save_index(built, record, tmp_path / "h.index")
    loaded, again = ann.load_index(tmp_path / "h.index")
    assert again == record and loaded.ntotal == 3000
    q = vectors[:5]
    assert np.array_equal(built.search(q, 5)[1], loaded.search(q, 5)[1])


class Recording(np.ndarray):
    """An array that remembers the most rows any one read returned."""

    most = 0

    def __getitem__(self, key):
        out = super().__getitem__(key)
        if isinstance(out, np.ndarray) and out.ndim == 2:
            Recording.most = max(Recording.most, out.shape[0])
        return out


def test_a_memory_mapped_collection_is_read_by_chunks_not_mapped(collection, monkeypatch):
    folder, vectors = collection
    reads = []
    original = np.fromfile

    def counting(*args, **kwargs):
        out = original(*args, **kwargs)
        reads.append(out.size // vectors.shape[1])
        return out

    monkeypatch.setattr(np, "fromfile", counting)
    mapped = np.load(folder / "v.npy", mmap_mode="r")
    built, _ = ann.build_index(mapped, "ivfpq", {"nlist": 16, "m": 8}, train_size=3000, chunk=5000)
    assert reads == [5000] * 8  # 4 chunks to gather the training sample, 4 to add
    assert built.ntotal == len(vectors)


def test_build_reads_the_collection_in_chunks(collection):
    _, vectors = collection
    Recording.most = 0
    ann.build_index(vectors.view(Recording), "ivfpq", {"nlist": 16, "m": 8}, train_size=3000, chunk=1000)
    assert 0 < Recording.most <= 4096  # chunks of 1,000 rows, and the sampled rows of the unit-norm check


# --- errors: one line each ------------------------------------------------------------------------
def one_error_line(result):
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


@pytest.fixture(scope="module")
def built(collection, tmp_path_factory):
    folder, _ = collection
    from relbert.cli import index

    out = tmp_path_factory.mktemp("built") / "v.index"
    result = CliRunner().invoke(index, [str(folder / "v.npy"), "-o", str(out), "--nlist", "64", "-q"])
    assert result.exit_code == 0, result.output
    return out


def test_cli_refine_default_is_the_library_default():
    from relbert import search as search_module
    from relbert.cli import search

    option = next(p for p in search.params if p.name == "refine")
    assert option.default == search_module.REFINE == RelationIndex([], []).refine


def test_cli_search_with_the_index_gives_the_exact_output_format(collection, built):
    from relbert.cli import search

    folder, _ = collection
    args = [str(folder / "v.npy"), "--pairs", str(folder / "p.tsv"), "--query", "h7\\tt7", "-k", "5", "-q"]
    approx = CliRunner().invoke(search, args + ["--index", str(built), "--nprobe", "64", "--refine", "4000"])
    exact = CliRunner().invoke(search, args + ["--index", str(built), "--exact"])
    assert approx.exit_code == 0 and exact.exit_code == 0, approx.output + exact.output
    assert approx.output.splitlines()[0].split("\t")[:2] == ["h7:t7", "1"]
    assert [ln.split("\t")[3] for ln in approx.output.splitlines()] == [ln.split("\t")[3] for ln in exact.output.splitlines()]


def test_errors_are_one_line_and_write_nothing(collection, built, tmp_path):
    from relbert.cli import index, search

    folder, vectors = collection
    runner = CliRunner()
    query = ["--pairs", str(folder / "p.tsv"), "--query", "h1\\tt1", "--index"]
    assert "no such index file" in one_error_line(runner.invoke(search, [str(folder / "v.npy"), *query,
                                                                         str(tmp_path / "none.index")]))
    corrupt = tmp_path / "corrupt.index"
    corrupt.write_bytes(b"not an index at all")
    assert "not a relbert-index file" in one_error_line(runner.invoke(search, [str(folder / "v.npy"), *query,
                                                                              str(corrupt)]))
    truncated = tmp_path / "truncated.index"
    truncated.write_bytes(built.read_bytes()[:-5000])
    assert "corrupt index" in one_error_line(runner.invoke(search, [str(folder / "v.npy"), *query, str(truncated)]))
    # another collection: other size, other dimension, same shape but other vectors
    for name, other in (("rows", vectors[:19999]), ("dim", clustered(20000, 32, 8)), ("values", clustered(20000, 64, 64, 7))):
        np.save(tmp_path / f"{name}.npy", other)
        line = one_error_line(runner.invoke(search, [str(tmp_path / f"{name}.npy"), "--pairs",
                                                     str(folder / "p.tsv") if name != "rows" else str(tmp_path / "r.tsv"),
                                                     "--query", "h1\\tt1", "--index", str(built)])
                              if name != "rows" else _rows_case(runner, tmp_path, other, built))
        assert "rebuild the index" in line, name
    # a collection of raw (non-unit) vectors: refused when building, nothing written
    np.save(tmp_path / "raw.npy", vectors * 3.0)
    line = one_error_line(runner.invoke(index, [str(tmp_path / "raw.npy"), "-o", str(tmp_path / "raw.index")]))
    assert "not 1" in line and "--no-normalize" in line and not (tmp_path / "raw.index").exists()
    line = one_error_line(runner.invoke(index, [str(folder / "v.npy"), "-o", str(tmp_path / "no" / "x.index")]))
    assert "does not exist" in line
    line = one_error_line(runner.invoke(index, [str(folder / "v.npy"), "-o", str(tmp_path / "m.index"), "--m", "7"]))
    assert "must divide" in line and not (tmp_path / "m.index").exists()


def _rows_case(runner, tmp_path, other, built):
    from relbert.cli import search

    (tmp_path / "r.tsv").write_text("".join(f"h{i}\tt{i}\n" for i in range(len(other))), encoding="utf-8")
    return runner.invoke(search, [str(tmp_path / "rows.npy"), "--pairs", str(tmp_path / "r.tsv"), "--query", "h1\\tt1",
                                  "--index", str(built)])


def test_default_training_sample_is_bounded_and_small_samples_build_quietly(capfd):
    """The default sample: 40 rows a list, at least 65,536, at most 200 MiB plus half the index of
    float32 rows (the build's memory budget); a sample below FAISS's 39 rows a centroid builds
    without its warning."""
    assert ann.default_train_size(1024, 384, 1_000_000, 48) == 65536
    assert ann.default_train_size(4096, 384, 2_000_000, 48) == 40 * 4096
    at_2m = ann.default_train_size(8192, 384, 2_000_000, 48)
    assert at_2m == ((200 << 20) + 2_000_000 * 56 // 2) // (4 * 384) < 40 * 8192
    assert 2 * at_2m * 384 * 4 < 2_000_000 * 56 + 500e6  # sample and residuals within the budget
    assert ann.default_train_size(65536, 384, 100_000_000, 48) > 29 * 65536
    rng = np.random.default_rng(1)
    x = rng.standard_normal((12000, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    capfd.readouterr()
    built, record = ann.build_index(x, "ivfpq", {"nlist": 256, "m": 4}, train_size=4000)
    assert built.ntotal == 12000 and built.is_trained
    assert "WARNING" not in capfd.readouterr().err


@pytest.mark.parametrize("rows", [46, 200])
def test_a_small_collection_gets_a_flat_index_said_in_one_line(tmp_path, rows):
    """Below the product quantizer's 256 training rows, relbert-index builds a flat (exact) index
    and says so, instead of FAISS's traceback."""
    from relbert.cli import index

    np.save(tmp_path / "v.npy", clustered(rows, 32, 4))
    result = CliRunner().invoke(index, [str(tmp_path / "v.npy"), "-o", str(tmp_path / "v.index")])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and f"{rows} rows" in notes[0] and "flat" in notes[0]
    loaded, record = ann.load_index(tmp_path / "v.index")
    assert record.kind == "flat" and record.rows == rows
