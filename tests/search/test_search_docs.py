"""docs/search.md's defaults table and its 100M projection are the code's defaults, recomputed
here (the width of the default model's vectors included): the docs cannot drift from the code."""
from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "search.md"


def number(text: str) -> int:
    return int(text.replace(",", ""))


def table_rows():
    text = DOC.read_text(encoding="utf-8")
    pattern = re.compile(r"\| ([\d,]+) x (\d+)[^|]*\| ([\d,]+) \| (\d+) \| ([\d,]+) \| (\d+) \| (\d+) \|")
    return [tuple(number(g) for g in m.groups()) for m in pattern.finditer(text)]


def test_the_defaults_table_is_the_codes():
    from relbert.search.exact import REFINE
    from relbert.search.index import NPROBE, default_params, default_search, default_train_size

    rows = table_rows()
    assert len(rows) == 3
    for count, dimension, lists, m, train, nprobe, refine in rows:
        params = default_params("ivfpq", count, dimension)
        assert (params["nlist"], params["m"]) == (lists, m)
        assert default_train_size(params["nlist"], dimension, count, params["m"] * params["nbits"] // 8) == train
        assert default_search("ivfpq", params)["nprobe"] == nprobe == NPROBE and refine == REFINE


def test_the_default_models_width_is_the_one_the_docs_use(default_model):
    """The docs' 768: the default model's vectors (relation + offset), 2 x its encoder's width."""
    text = DOC.read_text(encoding="utf-8")
    assert default_model.dimension == 768 and default_model.hidden_size == 384
    assert "96 bytes for the default model's 768 dimensions" in text


def test_the_100m_projection_is_its_arithmetic():
    text = DOC.read_text(encoding="utf-8")
    from relbert.search.index import default_params

    params = default_params("ivfpq", 100_000_000, 768)
    vectors = 100_000_000 * 768 * 4
    index = 100_000_000 * (params["m"] + 8)
    centroids = params["nlist"] * 768 * 4
    assert f"100M x 3,072 B = {vectors / 1e9:.0f} GB" in text
    assert f"100M x ({params['m']} B of codes + 8 B\nof id) = {index / 1e9:.1f} GB" in text
    assert f"plus {centroids / 1e6:.0f} MB of centroids ({(index + centroids) / vectors:.3f} of the vectors)" in text
    scanned = round(100_000_000 * 128 / params["nlist"], -3)
    assert f"100M x 128 / {params['nlist']:,} = {scanned:,.0f} codes" in text
