"""relbert.search.exact: RelationIndex over an embedded collection (exact scan, query pairs left out,
queries embedded on the fly) and its one-line errors."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from relbert.cli import embed, search
from helpers.pair_files import make_pairs


def test_search_cli_and_api(tiny_model_path, tmp_path):
    from relbert import RelBERT
    from relbert.search.exact import RelationIndex

    pairs = make_pairs(tmp_path / "pairs.tsv", 2000, seed=8)
    CliRunner().invoke(embed, [str(tmp_path / "pairs.tsv"), "-o", str(tmp_path / "v.npy"), "--model", tiny_model_path, "-q"])
    index = RelationIndex.load(tmp_path / "v.npy", tmp_path / "pairs.tsv")
    vectors = np.load(tmp_path / "v.npy")
    hits = index.query([pairs[10]], k=5, include_query=True)[0]
    assert hits[0][0] == pairs[10] and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    sims = vectors @ vectors[10] / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(vectors[10]))
    assert [h[2] for h in hits][1:] == [i for i in np.argsort(-sims, kind="stable") if pairs[i] != pairs[10]][:4]
    # by default the query pair is left out of its own results (as gensim's most_similar)
    assert index.query([pairs[10]], k=4)[0] == hits[1:]
    model = RelBERT.from_pretrained(tiny_model_path)
    fresh = index.query([("never", "seen")], k=3, model=model)[0]
    expected = model.embed([("never", "seen")])[0]
    best = int(np.argmax(vectors @ expected / np.linalg.norm(vectors, axis=1)))
    assert fresh[0][2] == best
    result = CliRunner().invoke(search, [str(tmp_path / "v.npy"), "--pairs", str(tmp_path / "pairs.tsv"),
                                         "--query", f"{pairs[10][0]}\\t{pairs[10][1]}", "-k", "3", "--include-query"])
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0].split("\t")
    assert first[1:3] == ["1", "1.0000"] and tuple(first[3:5]) == pairs[10]
    missing = CliRunner().invoke(search, [str(tmp_path / "v.npy"), "--pairs", str(tmp_path / "pairs.tsv"), "--query", "x"])
    assert missing.exit_code == 2 and "head<TAB>tail" in missing.output
