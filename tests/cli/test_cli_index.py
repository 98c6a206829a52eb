"""relbert-index (and relbert-search --index) as a user types them: small collections, every mistake one line."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from helpers.cli_checks import one_error_line
from relbert.search import index as ann

faiss = pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install faiss-cpu)")

from helpers.ann_collection import clustered  # noqa: E402 - after the faiss check


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


def test_the_index_carries_the_collections_provenance_and_search_uses_it(tiny_collection, tmp_path):
    """relbert-index records which model embedded the collection; relbert-search --index embeds an
    unseen query with that model even where the collection's own record is gone."""
    from relbert.embedding import provenance
    from relbert.cli import index, search

    tsv, out = tiny_collection
    made = provenance.read(out)
    built = tmp_path / "c.index"
    result = CliRunner().invoke(index, [str(out), "-o", str(built), "--kind", "flat"])
    assert result.exit_code == 0, result.output
    assert f"embedded with {made['model']}" in result.output
    assert ann.load_index(built)[1].provenance == made
    provenance.path_for(out).unlink()  # the collection without its side file
    result = CliRunner().invoke(search, [str(out), "--pairs", str(tsv), "--index", str(built), "--query",
                                         "berlin\\tgermany", "-k", "2", "-q"])
    assert result.exit_code == 0, result.output  # the default model (another width) would be refused
    assert len(result.output.splitlines()) == 2
