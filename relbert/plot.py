"""A 2-D map of relation space: ``relbert-plot`` (the official package's ``relbert-2d-plot``).

The relation vectors are projected to two dimensions (UMAP where installed, else t-SNE; PCA
for large collections or on request) and clustered with HDBSCAN on the projection (what the
eye sees). Points are coloured by a label column when one is given, else by cluster. Two
outputs:

- **HTML**: one self-contained file (inline SVG and a few lines of script; nothing fetched at
  view time). Hovering a point shows its pair and its label or cluster.
- **PNG** (matplotlib): the same map, with the densest clusters named by their most central
  pair (or their most common label).
"""
from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .errors import OptionError

Pair = Tuple[str, str]

#: Projection methods: ``auto`` = UMAP where installed, else t-SNE up to :data:`TSNE_LIMIT`
#: points and PCA above (t-SNE's cost grows faster than the collection).
METHODS = ("auto", "tsne", "pca", "umap")
TSNE_LIMIT = 20000
#: Output formats, by the output's suffix.
FORMATS = (".html", ".png")
#: Groups listed in the HTML legend (the largest first).
LEGEND_ENTRIES = 40
#: Clusters named in the PNG.
NAMED_CLUSTERS = 8
#: Colours (Tableau 10, then a lighter 10), cycled; grey for HDBSCAN's noise points.
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f"]
NOISE = "#c8c8c8"


@dataclass
class RelationMap:
    """What is drawn: 2-D points, their pairs, and a group per point (label or cluster)."""

    xy: np.ndarray  # (N, 2) float
    pairs: List[Pair]
    groups: List[str]  # per point: its label, its cluster ("cluster 3"), or "noise"
    method: str  # the projection used
    by: str  # "label" or "cluster"

    def palette(self) -> Dict[str, str]:
        """Group -> colour, the largest groups first: one palette colour each, grey for noise."""
        colour, used = {}, 0
        for group, _ in Counter(self.groups).most_common():
            if group == "noise":
                colour[group] = NOISE
            else:
                colour[group] = PALETTE[used % len(PALETTE)]
                used += 1
        return colour

    def colours(self) -> List[str]:
        """A colour per point (see :meth:`palette`)."""
        colour = self.palette()
        return [colour[g] for g in self.groups]

    def densest(self, limit: int = NAMED_CLUSTERS) -> List[Tuple[str, np.ndarray, str]]:
        """``(group, centre, name)`` of the densest groups (points per unit of spread), each placed
        at and named by its medoid: the member closest to all the others, so the name of a group
        split in two sits on its larger part (not in the empty space between), and a cluster is
        named by a pair at its heart (not by whichever point lies nearest its mean)."""
        found = []
        groups = np.array(self.groups)
        for group in sorted(set(self.groups) - {"noise"}):
            members = np.flatnonzero(groups == group)
            if len(members) < 3:
                continue
            sample = members[:: max(1, len(members) // 1500)]  # medoid among at most ~1,500 members
            points = self.xy[sample]
            distances = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))
            central = sample[int(np.argmin(distances.sum(1)))]
            centre = self.xy[central]
            spread = float(np.sqrt(((self.xy[members] - centre) ** 2).sum(1).mean())) + 1e-9
            name = group if self.by == "label" else "{}:{}".format(*self.pairs[central])
            found.append((len(members) / spread, group, centre, name))
        found.sort(key=lambda item: -item[0])
        return [(group, centre, name) for _, group, centre, name in found[:limit]]


def project(vectors: np.ndarray, method: str = "auto", seed: int = 0) -> Tuple[np.ndarray, str]:
    """``(N, 2)`` coordinates of the rows of ``vectors`` and the method used."""
    if method not in METHODS:
        raise OptionError(f"unknown projection {method!r}: choose one of {', '.join(METHODS)}")
    vectors = np.asarray(vectors, dtype=np.float32)
    n = len(vectors)
    if method == "auto":
        method = "umap" if _has_umap() else ("tsne" if n <= TSNE_LIMIT else "pca")
    if n == 1:  # one pair: the map's centre (a projection of one point is undefined)
        return np.zeros((1, 2), np.float32), "pca"
    if n < 3 or method == "pca":
        return _pca(vectors, 2), "pca"
    if method == "umap":
        if not _has_umap():
            raise OptionError("--method umap needs umap-learn: pip install umap-learn (or use tsne or pca)")
        import umap

        return umap.UMAP(n_components=2, random_state=seed).fit_transform(vectors).astype(np.float32), "umap"
    from sklearn.manifold import TSNE

    reduced = _pca(vectors, 50) if vectors.shape[1] > 50 and n > 50 else vectors  # t-SNE's usual first step
    perplexity = float(min(30.0, max(2.0, (n - 1) / 3)))
    xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(reduced)
    return xy.astype(np.float32), "tsne"


def _pca(vectors: np.ndarray, dimensions: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    dimensions = min(dimensions, vectors.shape[1], len(vectors))
    out = PCA(n_components=dimensions, random_state=0).fit_transform(vectors)
    if out.shape[1] < 2:  # a single row (or a single dimension) still gets two coordinates
        out = np.pad(out, ((0, 0), (0, 2 - out.shape[1])))
    return out.astype(np.float32)


def _has_umap() -> bool:
    import importlib.util

    return importlib.util.find_spec("umap") is not None


def cluster(xy: np.ndarray, min_cluster_size: Optional[int] = None) -> List[str]:
    """HDBSCAN clusters of the projected points: ``"cluster K"`` per point, or ``"noise"``."""
    from sklearn.cluster import HDBSCAN

    n = len(xy)
    if n < 5:
        return ["noise"] * n
    size = min_cluster_size or max(5, n // 100)
    # copy=True: the points are drawn afterwards (and it silences sklearn's default-change warning)
    found = HDBSCAN(min_cluster_size=min(size, n), copy=True).fit_predict(xy)
    return [f"cluster {k}" if k >= 0 else "noise" for k in found]


def relation_map(vectors: np.ndarray, pairs: Sequence[Pair], labels: Optional[Sequence[str]] = None,
                 method: str = "auto", seed: int = 0) -> RelationMap:
    """Project and group an embedded collection (``labels``: one per row, else HDBSCAN clusters)."""
    if len(vectors) != len(pairs):
        raise OptionError(f"{len(vectors)} vectors but {len(pairs)} pairs: they must be the same rows")
    if labels is not None and len(labels) != len(pairs):
        raise OptionError(f"{len(labels)} labels but {len(pairs)} pairs: give one label a pair")
    xy, used = project(vectors, method, seed)
    groups = list(labels) if labels is not None else cluster(xy)
    return RelationMap(xy, list(pairs), groups, used, "label" if labels is not None else "cluster")


# --- HTML -----------------------------------------------------------------------------------------
_SIZE, _MARGIN = 900, 20

_SCRIPT = """
(function () {
  var tip = document.getElementById('tip');
  function show(e) {
    var p = e.target;
    if (!p.hasAttribute('data-pair')) { return; }
    tip.textContent = p.getAttribute('data-pair') + '  (' + p.getAttribute('data-group') + ')';
    tip.style.left = (e.pageX + 12) + 'px';
    tip.style.top = (e.pageY + 12) + 'px';
    tip.style.display = 'block';
  }
  var svg = document.getElementById('map');
  svg.addEventListener('mouseover', show);
  svg.addEventListener('mousemove', show);
  svg.addEventListener('mouseout', function () { tip.style.display = 'none'; });
})();
"""


def _scaled(xy: np.ndarray) -> np.ndarray:
    low, high = xy.min(0), xy.max(0)
    span = np.where(high - low > 0, high - low, 1.0)
    return _MARGIN + (xy - low) / span * (_SIZE - 2 * _MARGIN)


def to_html(relation_map: RelationMap, title: str) -> str:
    """One self-contained HTML page: an SVG circle per pair (hover shows the pair)."""
    points = _scaled(relation_map.xy)
    circles = []
    for (x, y), (head, tail), group, colour in zip(points, relation_map.pairs, relation_map.groups,
                                                   relation_map.colours()):
        pair = html.escape(f"{head} : {tail}", quote=True)
        circles.append(f'<circle cx="{x:.1f}" cy="{_SIZE - y:.1f}" r="3.5" fill="{colour}" '
                       f'data-pair="{pair}" data-group="{html.escape(group, quote=True)}"></circle>')
    legend = "".join(f'<li><span style="background:{c}"></span>{html.escape(g)}</li>'
                     for g, c in list(relation_map.palette().items())[:LEGEND_ENTRIES])
    meta = json.dumps({"points": len(points), "method": relation_map.method, "coloured_by": relation_map.by})
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 16px; color: #222; }}
#map circle {{ stroke: #fff; stroke-width: 0.5; }}
#map circle:hover {{ stroke: #000; stroke-width: 1.5; }}
#tip {{ position: absolute; display: none; background: #222; color: #fff; padding: 3px 6px; border-radius: 3px;
        font-size: 13px; pointer-events: none; }}
ul {{ list-style: none; padding: 0; columns: 4; font-size: 12px; }}
li span {{ display: inline-block; width: 10px; height: 10px; margin-right: 4px; }}
</style></head>
<body>
<h3>{html.escape(title)}</h3>
<p>{len(points)} pairs, {relation_map.method}, coloured by {relation_map.by}; hover a point for its pair.</p>
<svg id="map" width="{_SIZE}" height="{_SIZE}" viewBox="0 0 {_SIZE} {_SIZE}"
     data-meta='{html.escape(meta, quote=True)}'>
<rect width="100%" height="100%" fill="#ffffff"></rect>
{chr(10).join(circles)}
</svg>
<div id="tip"></div>
<ul>{legend}</ul>
<script>{_SCRIPT}</script>
</body></html>
"""


# --- PNG ------------------------------------------------------------------------------------------
def write_png(relation_map: RelationMap, handle, title: str) -> None:
    """The map as a PNG (matplotlib) into the binary file ``handle``, the densest clusters named."""
    matplotlib = _import_matplotlib()
    matplotlib.use("Agg")  # no screen needed
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 9), dpi=100)
    try:
        axes.scatter(relation_map.xy[:, 0], relation_map.xy[:, 1], s=9, c=relation_map.colours(), linewidths=0)
        for _, centre, name in relation_map.densest():
            axes.annotate(name, centre, fontsize=9, ha="center", va="center",
                          bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "#888", "alpha": 0.85})
        axes.set_title(title, fontsize=11)
        axes.set_xticks([])
        axes.set_yticks([])
        figure.tight_layout()
        figure.savefig(handle, format="png")
    finally:
        plt.close(figure)


def _import_matplotlib():
    try:
        import matplotlib
    except ImportError as err:
        raise OptionError("a PNG map needs matplotlib: pip install matplotlib (or write .html, which needs "
                          "nothing)") from err
    return matplotlib


def output_format(output) -> str:
    """``.html`` or ``.png``, by ``output``'s suffix; any other is a one-line :class:`OptionError`."""
    suffix = Path(output).suffix.lower()
    if suffix not in FORMATS:
        raise OptionError(f"{output}: write .html or .png (the format follows the suffix)")
    return suffix


def write(relation_map: RelationMap, output, title: str) -> None:
    """Write ``relation_map`` to ``output`` (``.html`` or ``.png``, by suffix), atomically."""
    from .atomic import atomic_output

    output = Path(output)
    if output_format(output) == ".png":
        _import_matplotlib()  # before any file is opened
        with atomic_output(output) as handle:
            write_png(relation_map, handle, title)
    else:
        with atomic_output(output, "w") as handle:
            handle.write(to_html(relation_map, title))
