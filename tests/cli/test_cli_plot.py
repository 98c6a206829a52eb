"""relbert-plot as a user types it: both formats from an embedded collection, the HTML page in
a real headless browser (it renders, shows the points, and hovering a point shows its pair), the
PNG checked by its pixels, and every mistake one line."""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner

from helpers.cli_checks import one_error_line
from relbert.cli import embed, plot
from relbert.plot import PALETTE

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason="no headless browser (Debian: apt-get install chromium)")

GROUPS = {"capital": [("paris", "france"), ("tokyo", "japan"), ("rome", "italy"), ("madrid", "spain"),
                      ("berlin", "germany"), ("lima", "peru"), ("oslo", "norway"), ("cairo", "egypt")],
          "plural": [("dog", "dogs"), ("cat", "cats"), ("house", "houses"), ("tree", "trees"), ("car", "cars"),
                     ("book", "books"), ("bird", "birds"), ("river", "rivers")],
          "sound": [("dog", "bark"), ("cat", "meow"), ("cow", "moo"), ("duck", "quack"), ("lion", "roar"),
                    ("snake", "hiss"), ("owl", "hoot"), ("horse", "neigh")]}


@pytest.fixture(scope="module")
def collection(tmp_path_factory, tiny_model_path):
    folder = tmp_path_factory.mktemp("plot")
    rows = [(h, t, label) for label, pairs in GROUPS.items() for h, t in pairs]
    (folder / "pairs.tsv").write_text("".join(f"{h}\t{t}\n" for h, t, _ in rows), encoding="utf-8")
    (folder / "labels.txt").write_text("".join(f"{label}\n" for _, _, label in rows), encoding="utf-8")
    result = CliRunner().invoke(embed, [str(folder / "pairs.tsv"), "-o", str(folder / "v.npy"), "--model",
                                        tiny_model_path, "-q"])
    assert result.exit_code == 0, result.output
    return folder, rows


def draw(collection, name, *extra):
    folder, _ = collection
    out = folder / name
    result = CliRunner().invoke(plot, [str(folder / "v.npy"), "--pairs", str(folder / "pairs.tsv"), "-o", str(out),
                                       "--labels", str(folder / "labels.txt"), *extra])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output and "24 pairs" in result.output and "3 labels" in result.output
    return out


def test_the_png_shows_every_group_in_its_colour(collection):
    import matplotlib.image

    image = matplotlib.image.imread(str(draw(collection, "map.png")))[..., :3]  # (H, W, RGB) floats
    assert image.shape[0] > 500 and image.shape[1] > 500
    for colour in PALETTE[:3]:  # the three groups' colours, each drawn as 8 dots of several pixels
        rgb = np.array([int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
        hits = int((np.abs(image - rgb).max(-1) < 0.02).sum())
        assert hits >= 8 * 3, (colour, hits)  # at least a few pixels a dot (dots overlap and are antialiased)
    assert (np.abs(image - 1.0).max(-1) < 0.01).mean() > 0.5  # mostly white background


@needs_browser
def test_the_html_renders_in_a_browser_with_every_point_and_a_hover(collection, tmp_path):
    out = draw(collection, "map.html")
    page = out.read_text(encoding="utf-8")
    # the page as written, plus a probe that hovers the first point the way a mouse does
    probe = """<script>
var c = document.querySelector('#map circle'), r = c.getBoundingClientRect();
c.dispatchEvent(new MouseEvent('mouseover', {bubbles: true, clientX: r.x + 2, clientY: r.y + 2}));
var tip = document.getElementById('tip');
document.body.setAttribute('data-probe', JSON.stringify({tip: tip.textContent, shown: getComputedStyle(tip).display,
  drawn: Array.from(document.querySelectorAll('#map circle')).filter(function (e) {
    var b = e.getBoundingClientRect(); return b.width > 0 && b.height > 0; }).length}));
</script></body>"""
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", probe), encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", probed.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    import html as html_module

    found = json.loads(html_module.unescape(dom.split('data-probe="')[1].split('"')[0]))
    _, rows = collection
    assert found["drawn"] == len(rows)
    assert found["shown"] == "block" and found["tip"] == f"{rows[0][0]} : {rows[0][1]}  ({rows[0][2]})"
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *flags, "--window-size=1000,1100", f"--screenshot={shot}", out.as_uri()],
                   capture_output=True, timeout=120)
    import matplotlib.image

    image = matplotlib.image.imread(str(shot))[..., :3]
    rgb = np.array([int(PALETTE[0][i:i + 2], 16) / 255 for i in (1, 3, 5)])
    assert int((np.abs(image - rgb).max(-1) < 0.03).sum()) >= 8 * 10  # the points are on the screen


def test_mistakes_are_one_line_and_write_nothing(collection, tmp_path):
    folder, _ = collection
    runner = CliRunner()
    base = [str(folder / "v.npy"), "--pairs", str(folder / "pairs.tsv")]
    assert "write .html or .png" in one_error_line(runner.invoke(plot, base + ["-o", str(tmp_path / "m.svg")]))
    short = tmp_path / "short.txt"
    short.write_text("capital\nplural\n", encoding="utf-8")
    line = one_error_line(runner.invoke(plot, base + ["-o", str(tmp_path / "m.html"), "--labels", str(short)]))
    assert line == f"error: {short}:3: 2 labels for 24 pairs: give one label a pair"
    wrong = tmp_path / "wrong.tsv"
    wrong.write_text("tokyo\tjapan\tcapital\n", encoding="utf-8")
    line = one_error_line(runner.invoke(plot, base + ["-o", str(tmp_path / "m.html"), "--labels", str(wrong)]))
    assert line == f"error: {wrong}:1: pair tokyo:japan, but row 1 of the collection is paris:france"
    line = one_error_line(runner.invoke(plot, [str(folder / "v.npy"), "-o", str(tmp_path / "m.html")]))
    assert "needs its pairs file (--pairs)" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["short.txt", "wrong.tsv"]
