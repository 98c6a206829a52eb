"""A generated clustered collection (20,000 unit vectors) and its index, shared by the ANN,
index and search tests (its fixtures are registered by tests/conftest.py's pytest_plugins)."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner


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


@pytest.fixture(scope="module")
def built(collection, tmp_path_factory):
    folder, _ = collection
    from relbert.cli import index

    out = tmp_path_factory.mktemp("built") / "v.index"
    result = CliRunner().invoke(index, [str(folder / "v.npy"), "-o", str(out), "--nlist", "64", "-q"])
    assert result.exit_code == 0, result.output
    return out
