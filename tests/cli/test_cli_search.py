"""relbert-search: queries against an embedded collection, exact and through an index; every mistake one line."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from click.testing import CliRunner

from helpers.cli_checks import one_error_line
from relbert.cli import embed
from relbert.search.exact import RelationIndex

needs_faiss = pytest.mark.skipif(importlib.util.find_spec("faiss") is None,
                                 reason="faiss-cpu is not installed (pip install faiss-cpu)")


def test_search_lists_a_repeated_pair_once(tiny_collection, tiny_model_path):
    from relbert.cli import search

    tsv, out = tiny_collection
    result = CliRunner().invoke(search, [str(out), "--pairs", str(tsv), "--query", "paris\\tfrance", "-k", "4", "-q"])
    assert result.exit_code == 0, result.output
    listed = [tuple(line.split("\t")[3:5]) for line in result.output.splitlines()]
    # the query pair is left out of its own results; the other 3 distinct pairs, each once
    assert ("paris", "france") not in listed and len(listed) == 3 and len(set(listed)) == 3
    result = CliRunner().invoke(search, [str(out), "--pairs", str(tsv), "--query", "paris\\tfrance", "-k", "4", "-q",
                                         "--include-query"])
    listed = [tuple(line.split("\t")[3:5]) for line in result.output.splitlines()]
    assert listed[0] == ("paris", "france") and len(listed) == 4 and len(set(listed)) == 4


def test_search_of_a_collection_from_another_model_is_one_line(tiny_collection, tmp_path, tiny_model_path, monkeypatch):

    from relbert.cli import search

    tsv, _ = tiny_collection
    wide = tmp_path / "wide.npy"
    np.save(wide, np.random.default_rng(0).standard_normal((5, 768)).astype(np.float32))
    result = CliRunner().invoke(search, [str(wide), "--pairs", str(tsv), "--query", "pig\\toink", "--model",
                                         tiny_model_path])
    line = one_error_line(result)
    assert "768-dimensional" in line and "--model" in line


def test_search_given_the_pairs_file_as_vectors_is_one_line(tiny_collection):
    from relbert.cli import search

    tsv, _ = tiny_collection
    line = one_error_line(CliRunner().invoke(search, [str(tsv), "--pairs", str(tsv), "--query", "paris\\tfrance"]))
    assert str(tsv) in line and ".npy or .npz" in line


def test_a_collection_carries_its_provenance_and_search_uses_it(tmp_path, tiny_model_path):
    import json
    import os

    from relbert.cli import search
    from helpers.tiny_model import build_tiny_bert

    tsv = tmp_path / "c.tsv"
    tsv.write_text("paris\tfrance\ntokyo\tjapan\ndog\tbark\ncat\tmeow\n")
    out = tmp_path / "c.npy"
    assert CliRunner().invoke(embed, [str(tsv), "-o", str(out), "--model", tiny_model_path, "-q"]).exit_code == 0
    made = json.loads((tmp_path / "c.npy.provenance.json").read_text())
    assert made["model"] == os.path.abspath(tiny_model_path) and made["rows"] == 4 and made["relbert_version"]
    assert {"precision", "template", "aggregation", "dimension"} <= set(made)
    query = ["--query", "rome\\titaly", "-k", "2", "-q"]  # not in the tiny_collection: embedded by the tiny_collection's model
    by_default = CliRunner().invoke(search, [str(out), "--pairs", str(tsv), *query])
    explicit = CliRunner().invoke(search, [str(out), "--pairs", str(tsv), *query, "--model", tiny_model_path])
    assert by_default.exit_code == 0 and by_default.output == explicit.output and by_default.output
    other = str(build_tiny_bert(tmp_path / "other", seed=1))  # same width: only provenance tells them apart
    line = one_error_line(CliRunner().invoke(search, [str(out), "--pairs", str(tsv), *query, "--model", other]))
    assert "was embedded with" in line and "--any-model" in line
    assert CliRunner().invoke(search, [str(out), "--pairs", str(tsv), *query, "--model", other,
                                       "--any-model"]).exit_code == 0


def test_cli_refine_default_is_the_library_default():
    from relbert.search import exact as search_module
    from relbert.cli import search

    option = next(p for p in search.params if p.name == "refine")
    assert option.default == search_module.REFINE == RelationIndex([], []).refine


@needs_faiss
def test_cli_search_with_the_index_gives_the_exact_output_format(collection, built):
    from relbert.cli import search

    folder, _ = collection
    args = [str(folder / "v.npy"), "--pairs", str(folder / "p.tsv"), "--query", "h7\\tt7", "-k", "5", "-q"]
    approx = CliRunner().invoke(search, args + ["--index", str(built), "--nprobe", "64", "--refine", "4000"])
    exact = CliRunner().invoke(search, args + ["--index", str(built), "--exact"])
    assert approx.exit_code == 0 and exact.exit_code == 0, approx.output + exact.output
    assert approx.output.splitlines()[0].split("\t")[:2] == ["h7:t7", "1"]
    assert [ln.split("\t")[3] for ln in approx.output.splitlines()] == [ln.split("\t")[3] for ln in exact.output.splitlines()]
