"""Approximate relation search (relbert/search/index.py, relbert-index, relbert-search --index) on
generated clustered collections: refined results equal the exact scan when the refine factor
covers the collection, recall at the defaults, every error, save/load round trips, bounded reads."""
from __future__ import annotations

import numpy as np
import pytest

faiss = pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install faiss-cpu)")

from relbert.search import index as ann  # noqa: E402
from relbert.search.exact import RelationIndex  # noqa: E402


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
