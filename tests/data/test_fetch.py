"""relbert-download data (relbert/data/fetch.py) on made-up files in the published formats: the
layout --data-dir expects, hashes checked before anything is moved into place, a second run
fetches nothing, offline is one line, and every command finds $RELBERT_HOME/data by default."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest
from click.testing import CliRunner

from relbert.data import fetch
from relbert.data.analogy import read_analogy_file
from relbert.data.lexical import read_lexical_dataset
from relbert.data.paths import data_root
from relbert.errors import DownloadError

QUESTION = {"stem": ["paris", "france"], "answer": 1, "choice": [["dog", "bark"], ["tokyo", "japan"], ["a", "b"]],
            "prefix": "made up"}


def digest(body: bytes) -> str:
    return hashlib.sha256(fetch.normalized(body)).hexdigest()


@pytest.fixture()
def published():
    """Made-up files at the real addresses and archive paths: (url -> body, the sources table)."""
    valid = json.dumps(QUESTION).encode()  # published without a final newline
    test = (json.dumps(QUESTION) + "\n" + json.dumps({**QUESTION, "answer": 0}) + "\n").encode()
    lexical = {split: f"cat\tanimal\thyper\noak\ttree\thyper\ncar\twheel\tmero\n{split}\tx\trandom\n".encode()
               for split in ("train", "val", "test")}
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for split, body in lexical.items():
            info = tarfile.TarInfo(f"lexical_relation_dataset/BLESS/{split}.tsv")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    sources = {"u2": fetch._analogy("u2", "c0ffee", {"valid": digest(valid), "test": digest(test)}),
               "BLESS": fetch._lexical("BLESS", {split: digest(body) for split, body in lexical.items()})}
    bodies = {sources["u2"][0].url: valid, sources["u2"][1].url: test, fetch.LEXICAL_ARCHIVE: archive.getvalue()}
    return bodies, sources


def test_the_sets_land_in_the_layout_the_readers_expect(published, tmp_path):
    bodies, sources = published
    calls = []

    def get(url):
        calls.append(url)
        return bodies[url]

    root = fetch.fetch_data(tmp_path, get=get, sources=sources)
    assert root == tmp_path / "data" and len(calls) == 3  # the archive is fetched once for its three files
    valid = read_analogy_file(root / "analogy" / "u2" / "valid.jsonl")
    assert len(valid.questions) == 1 and valid.questions[0].stem == ("paris", "france")
    assert len(read_analogy_file(root / "analogy" / "u2" / "test.jsonl").questions) == 2
    splits = read_lexical_dataset(root / "lexical_relation" / "BLESS")
    assert set(splits) == {"train", "val", "test"} and splits["train"].labels == ["hyper", "hyper", "mero", "random"]
    fetch.fetch_data(tmp_path, get=get, sources=sources)  # verified in place: nothing fetched again
    assert len(calls) == 3
    assert not [p for p in root.iterdir() if p.name.startswith(".tmp")]


def test_a_changed_file_is_refused_and_nothing_is_written(published, tmp_path):
    bodies, sources = published
    url = sources["u2"][1].url
    bodies[url] = bodies[url].replace(b'"answer": 0', b'"answer": 2')
    with pytest.raises(DownloadError, match=r"analogy/u2/test.jsonl: sha256 .* is not the pinned"):
        fetch.fetch_data(tmp_path, get=bodies.__getitem__, sources=sources)
    assert [p for p in (tmp_path / "data").rglob("*")] == []  # not even the verified files


def test_offline_is_one_clear_line():
    with pytest.raises(DownloadError, match=r"cannot fetch http://127.0.0.1:9/x: .*needs the network once"):
        fetch.http_get("http://127.0.0.1:9/x", timeout=5)


def test_the_pinned_table_covers_the_evaluation_sets_and_says_what_it_does_not():
    targets = {f.target for files in fetch.SOURCES.values() for f in files}
    for name in ("u2", "u4", "google", "bats", "conceptnet", "t_rex_draft"):
        assert {f"analogy/{name}/valid.jsonl", f"analogy/{name}/test.jsonl"} <= targets
    assert "relation_mapping/data.jsonl" in targets
    for name in ("BLESS", "EVALution", "K&H+N", "ROOT09"):
        assert {f"lexical_relation/{name}/{s}.tsv" for s in ("train", "val", "test")} <= targets
    for files in fetch.SOURCES.values():
        for f in files:
            assert f.url.startswith("https://") and len(f.sha256) == 64
            assert "/0.0.0/" in f.url or any(len(part) == 40 for part in f.url.split("/"))  # pinned
    gold = {t for t in targets if t.startswith("semeval2012_task2/SemEval-2012-Gold-Ratings/")}
    assert len([t for t in gold if "/GoldRatings-" in t]) == 79  # every subcategory, training and testing
    assert "semeval2012_task2/SemEval-2012-Gold-Ratings/subcategories-list.txt" in gold
    assert set(fetch.NOT_FETCHED) == {"lexical_relation/CogALexV"}


def test_semeval_gold_ratings_land_where_training_reads_them(fixture_data, tmp_path):
    """The made-up Gold-Ratings files (tests/fixtures) served at the pinned addresses: fetched into
    the layout load_semeval reads, with the same relations as read from the original folder."""
    from relbert.data.semeval import load_semeval

    gold = fixture_data / "semeval2012_task2" / "SemEval-2012-Gold-Ratings"
    files = {p.relative_to(gold).as_posix(): p.read_bytes() for p in gold.rglob("*.txt")}
    sources = {"semeval2012_task2": fetch._semeval("c0ffee" * 6 + "c0ff", {n: digest(b) for n, b in files.items()})}
    bodies = {f.url: files[f.target.split("Gold-Ratings/", 1)[1]] for f in sources["semeval2012_task2"]}
    root = fetch.fetch_data(tmp_path, get=bodies.__getitem__, sources=sources)
    fetched = load_semeval(root / "semeval2012_task2")
    original = load_semeval(fixture_data / "semeval2012_task2")
    assert [(r.name, r.positives, r.negatives) for r in fetched[0]] == \
        [(r.name, r.positives, r.negatives) for r in original[0]] and fetched[0]
    assert [r.name for r in fetched[1]] == [r.name for r in original[1]]


def test_the_pinned_semeval_hashes_are_those_of_the_copy_training_uses(data_dir):
    """Each pinned Gold-Ratings hash against the real package in the data folder (hashed here
    independently), and nothing the training reads left out of the pins."""
    pins = fetch.read_pins(fetch.SEMEVAL_PINS)
    gold = data_dir / "semeval2012_task2" / "SemEval-2012-Gold-Ratings"
    local = {p.relative_to(gold).as_posix(): p for p in gold.rglob("*.txt")}
    assert set(pins) == set(local)
    for name, path in local.items():
        text = path.read_bytes().rstrip(b"\r\n") + b"\n"
        assert hashlib.sha256(text).hexdigest() == pins[name], name


def test_the_command_fetches_and_every_command_finds_the_data(published, tmp_path, monkeypatch, default_model):
    from relbert.cli import download, evaluate

    bodies, sources = published
    monkeypatch.setattr(fetch, "SOURCES", sources)
    monkeypatch.setattr(fetch, "http_get", lambda url, timeout=60.0: bodies[url])
    monkeypatch.setenv("RELBERT_HOME", str(tmp_path))
    monkeypatch.delenv("RELBERT_DATA", raising=False)
    result = CliRunner().invoke(download, ["data"])
    assert result.exit_code == 0, result.output
    assert "fetched and verified into" in result.output and "not fetched: CogALex-V" in result.output
    assert data_root() == tmp_path / "data"
    report = tmp_path / "u2.json"
    result = CliRunner().invoke(evaluate, ["analogy", "--dataset", "u2", "--split", "test", "-o", str(report), "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads(report.read_text())["datasets"]["u2"]["n_questions"] == 2
    def offline(url, timeout=60.0):
        raise DownloadError(f"cannot fetch {url}: no network")

    monkeypatch.setattr(fetch, "http_get", offline)
    (tmp_path / "data" / "analogy" / "u2" / "test.jsonl").unlink()
    result = CliRunner().invoke(download, ["data", "-q"])  # only the fetched file is missing: only it is asked for
    assert result.exit_code == 1 and result.output == f"error: cannot fetch {sources['u2'][1].url}: no network\n"
    assert (tmp_path / "data" / "analogy" / "u2" / "valid.jsonl").is_file()  # what was there stays


def test_a_failed_first_download_leaves_the_home_as_it_was_and_commands_say_what_to_run(tmp_path, monkeypatch):
    """Offline, relbert-download data fails in one line and leaves no empty data folder; with a
    data folder that lacks a set, every command names the set and relbert-download data."""
    from helpers.cli_checks import one_error_line
    from relbert.cli import download, evaluate, train

    def offline(url, timeout=60.0):
        raise DownloadError(f"cannot fetch {url}: no network")

    home = tmp_path / "home"
    monkeypatch.setattr(fetch, "http_get", offline)
    monkeypatch.setenv("RELBERT_HOME", str(home))
    monkeypatch.delenv("RELBERT_DATA", raising=False)
    result = CliRunner().invoke(download, ["data", "-q"])
    assert result.exit_code == 1 and "no network" in result.output
    assert not home.exists()  # nothing half-made
    empty = tmp_path / "empty-data"
    empty.mkdir()
    for args in (["analogy", "--dataset", "u2", "--data-dir", str(empty)],
                 ["analogy", "--data-dir", str(empty)],
                 ["validation", "--validation", "semeval", "--data-dir", str(empty)],
                 ["classification", "--dataset", "BLESS", "--data-dir", str(empty)],
                 ["mapping", "--data-dir", str(empty)]):
        line = one_error_line(CliRunner().invoke(evaluate, args))
        assert "relbert-download data" in line and "known: ," not in line and not line.endswith("known: "), args
    line = one_error_line(CliRunner().invoke(train, ["-o", str(tmp_path / "run"), "--data-dir", str(empty)]))
    assert "SemEval-2012" in line and "relbert-download data" in line and "--data FILE" in line
