"""relbert/plot.py: projection, clusters, colours, cluster names and the HTML page, on generated
points whose answer is known."""
from __future__ import annotations

import numpy as np
import pytest

from relbert.errors import OptionError, UserError
from relbert.plot import NOISE, PALETTE, cluster, project, relation_map, to_html


def blobs(sizes, dim=16, spread=0.05, seed=0):
    """Unit vectors around well-separated centres; the group of each row."""
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[: len(sizes)] * 3.0
    rows = [centres[g] + spread * rng.standard_normal((n, dim)) for g, n in enumerate(sizes)]
    vectors = np.concatenate(rows).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True), np.repeat(np.arange(len(sizes)), sizes)


def test_pca_is_the_leading_principal_axes():
    rng = np.random.default_rng(1)
    line = np.outer(np.linspace(-5, 5, 40), rng.standard_normal(8)) + 0.01 * rng.standard_normal((40, 8))
    xy, used = project(line.astype(np.float32), "pca")
    assert used == "pca" and xy.shape == (40, 2)
    order = np.argsort(xy[:, 0])  # the first coordinate runs along the line (either direction)
    assert list(order) in (list(range(40)), list(range(39, -1, -1)))


@pytest.mark.parametrize("method", ["tsne", "pca"])
def test_separated_groups_stay_separated_and_hdbscan_finds_them(method):
    vectors, truth = blobs([40, 30, 50])
    xy, used = project(vectors, method)
    assert used == method
    groups = np.array(cluster(xy))
    for g in range(3):  # each true group is one cluster, and no two share one
        found = set(groups[truth == g]) - {"noise"}
        assert len(found) == 1, (g, found)
    assert len({next(iter(set(groups[truth == g]) - {"noise"})) for g in range(3)}) == 3


def test_clustering_leaves_the_points_alone_and_warns_nothing():
    import warnings

    vectors, _ = blobs([40, 30])
    xy, _ = project(vectors, "pca")
    before = xy.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # quiet by default: no dependency warning reaches the user
        cluster(xy)
    np.testing.assert_array_equal(xy, before)


def test_labels_colour_the_points_and_name_the_densest_groups():
    vectors, truth = blobs([40, 30, 50])
    pairs = [(f"h{i}", f"t{i}") for i in range(len(vectors))]
    labels = [["capital", "plural", "colour"][g] for g in truth]
    drawn = relation_map(vectors, pairs, labels, "pca")
    assert drawn.by == "label" and drawn.groups == labels
    colours = drawn.colours()
    assert colours[truth.tolist().index(2)] == PALETTE[0]  # the largest group takes the first colour
    assert len({colours[i] for i in range(len(colours)) if truth[i] == 0}) == 1
    assert {name for _, _, name in drawn.densest()} == {"capital", "plural", "colour"}
    clustered = relation_map(vectors, pairs, None, "pca")
    assert clustered.by == "cluster"
    for _, centre, name in clustered.densest():  # a cluster is named by its most central pair
        assert name.count(":") == 1 and name.split(":")[0] in {h for h, _ in pairs}


def test_noise_is_grey_and_tiny_collections_still_draw():
    drawn = relation_map(np.eye(4, 8, dtype=np.float32), [("a", "b"), ("c", "d"), ("e", "f"), ("g", "h")])
    assert drawn.groups == ["noise"] * 4 and set(drawn.colours()) == {NOISE} and drawn.xy.shape == (4, 2)
    one = relation_map(np.ones((1, 8), np.float32), [("a", "b")])
    assert one.xy.shape == (1, 2)


def test_mismatched_rows_and_unknown_methods_are_one_line_errors():
    vectors, _ = blobs([10])
    with pytest.raises(UserError, match="10 vectors but 3 pairs"):
        relation_map(vectors, [("a", "b")] * 3)
    with pytest.raises(UserError, match="give one label a pair"):
        relation_map(vectors, [("a", "b")] * 10, ["x"])
    with pytest.raises(OptionError, match="unknown projection"):
        project(vectors, "mds")


def test_the_html_page_is_self_contained_and_escapes_the_pairs():
    vectors, _ = blobs([6, 6])
    pairs = [("<b>", "a & b")] + [(f"h{i}", f"t{i}") for i in range(11)]
    page = to_html(relation_map(vectors, pairs, None, "pca"), "title <x>")
    assert page.count("<circle ") == 12 and "data-pair=\"&lt;b&gt; : a &amp; b\"" in page
    assert "<b>" not in page  # the pair is text, never markup
    assert "title &lt;x&gt;" in page
    for fetched in ("http://", "https://", "src=", "<link"):  # nothing is fetched at view time
        assert fetched not in page


def test_a_split_group_is_named_on_its_larger_part_and_a_cluster_by_its_medoid():
    import numpy as np

    from relbert.plot import RelationMap

    # group "a": 6 points near (0, 0) and 3 near (10, 0); the mean (3.3, 0) lies in empty space
    left = [(0.0, 0.0), (0.1, 0.0), (0.0, 0.1), (-0.1, 0.0), (0.0, -0.1), (0.05, 0.05)]
    xy = np.array(left + [(10.0, 0.0), (10.1, 0.0), (10.0, 0.1)])
    pairs = [(f"h{i}", f"t{i}") for i in range(len(xy))]
    by_label = RelationMap(xy, pairs, ["a"] * len(xy), "pca", "label").densest()
    (_, centre, name), = by_label
    assert name == "a" and np.linalg.norm(centre) < 0.2  # on the points, not at the mean
    # a cluster pulled by outliers: its mean lies near an edge point, its medoid at its heart
    xy = np.array([(0.0, 0.0), (0.2, 0.0), (-0.2, 0.0), (0.0, 0.2), (0.0, -0.2), (3.0, 3.0), (1.2, 1.1)])
    pairs = [(f"h{i}", f"t{i}") for i in range(len(xy))]
    (_, centre, name), = RelationMap(xy, pairs, ["cluster 0"] * len(xy), "pca", "cluster").densest()
    assert name == "h0:t0" and tuple(centre) == (0.0, 0.0)
