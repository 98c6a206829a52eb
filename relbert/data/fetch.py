"""``relbert-download data``: the evaluation benchmarks from their public homes into
``$RELBERT_HOME/data``, in the layout ``--data-dir`` expects, every file hash-checked.

Where each set lives (pinned: a commit, or a release asset):

- analogy questions U2, U4, Google, BATS: asahi417/analogy-language-model (``data/NAME/*.jsonl``),
  the authors' compiled sets (CC BY-NC 4.0);
- analogy questions ConceptNet and T-REX (the early T-REX the validation signal uses):
  asahi417/relbert (``dataset/NAME_relational_similarity/*.jsonl``);
- relation mapping (Turney 2008): asahi417/relbert
  (``experiments/relation_mapping_problem/relation_mapping_data.jsonl``);
- lexical relation classification BLESS, EVALution, K&H+N, ROOT09: the LexNET splits in the
  authors' AnalogyTools release (``lexical_relation_dataset.tar.gz``; the official package
  fetches the same archive);
- SemEval-2012 Task 2 (training, and the held-out validation pairs): the task's
  ``SemEval-2012-Gold-Ratings`` package (CC BY-SA 3.0, its README included) as committed,
  unchanged, to SBelkaid/degrees_of_similarities; its 81 text files' hashes are in
  ``pins/semeval2012_gold_ratings.sha256`` (sha256sum format), each checked against the copy
  this project trains on.

Each file's sha256 is pinned (of its text with exactly one final newline, so that a file stored
with or without it checks the same): a changed or corrupt download is refused, naming the file.
Files are written under a temporary folder and moved into place only when every one is
verified; an interrupted or failed run leaves the data folder as it was.

Not fetched: CogALex-V, whose only public copies (the shared task's site, and a re-packed
copy in the AnalogyTools archive whose bytes could not be checked here) cannot be pinned to a
hash: docs/data.md says where to get it and where to put it.
"""
from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional

from ..atomic import replace_file
from ..errors import DownloadError

_ANALOGY_LM = "https://raw.githubusercontent.com/asahi417/analogy-language-model/{commit}/data/{name}/{split}.jsonl"
_RELBERT = "https://raw.githubusercontent.com/asahi417/relbert/{commit}/{path}"
LEXICAL_ARCHIVE = "https://github.com/asahi417/AnalogyTools/releases/download/0.0.0/lexical_relation_dataset.tar.gz"
_SEMEVAL = ("https://raw.githubusercontent.com/SBelkaid/degrees_of_similarities/{commit}/"
            "SemEval-2012-Gold-Ratings/{path}")
SEMEVAL_COMMIT = "f15c3c9f82490537318f0d971a8fa3a397655e7d"
SEMEVAL_PINS = Path(__file__).with_name("pins") / "semeval2012_gold_ratings.sha256"


@dataclass(frozen=True)
class DataFile:
    """One file of the data folder: where it comes from and what it must hash to."""

    target: str  # path under the data folder
    url: str
    sha256: str  # of the text with exactly one final newline
    member: Optional[str] = None  # its path inside the archive at ``url``


def _analogy(name: str, commit: str, hashes: Dict[str, str]) -> List[DataFile]:
    return [DataFile(f"analogy/{name}/{split}.jsonl", _ANALOGY_LM.format(commit=commit, name=name, split=split), digest)
            for split, digest in hashes.items()]


def _relbert_analogy(name: str, published: str, hashes: Dict[str, str]) -> List[DataFile]:
    commit = "17fd7615904ef84e3a5e3f20718ff81b261fd46d"
    return [DataFile(f"analogy/{name}/{split}.jsonl",
                     _RELBERT.format(commit=commit, path=f"dataset/{published}/{split}.jsonl"), digest)
            for split, digest in hashes.items()]


def _lexical(name: str, hashes: Dict[str, str]) -> List[DataFile]:
    return [DataFile(f"lexical_relation/{name}/{split}.tsv", LEXICAL_ARCHIVE, digest,
                     member=f"lexical_relation_dataset/{name}/{split}.tsv") for split, digest in hashes.items()]


def _semeval(commit: str, hashes: Dict[str, str]) -> List[DataFile]:
    """The Gold-Ratings files (path under the package -> sha256) into ``semeval2012_task2/``."""
    return [DataFile(f"semeval2012_task2/SemEval-2012-Gold-Ratings/{path}", _SEMEVAL.format(commit=commit, path=path),
                     digest) for path, digest in hashes.items()]


def read_pins(path: Path) -> Dict[str, str]:
    """``path -> sha256`` from a file in sha256sum's format (``<hex>  <path>`` a line)."""
    pins = {}
    for line in path.read_text().splitlines():
        digest, name = line.split(None, 1)
        pins[name.strip()] = digest
    return pins


_FA9121 = "fa912145a9247b554df141762db7b296d9b0bd80"
#: Set name -> its files.
SOURCES: Dict[str, List[DataFile]] = {
    "u2": _analogy("u2", _FA9121, {
        "valid": "50d2294de3130d8ac3e7783d010c82f550db2565b540d422a23428f13f54a2aa",
        "test": "c72a1bd72bfe8ed58e86d86f918567bb9c4abffc4052cfcf04658fe3c1ed6722"}),
    "u4": _analogy("u4", "d2f223e8249dff60cada3ca59ce8d9af97f79aa2", {
        "valid": "717747f4f198c67e7e27028c1ff3fc48e6e8df708ee6ceef67925e904093959c",
        "test": "20649f1d682c5156884baa2ef4d0314b0e5d386aa84bc194a6678e609a6fb41e"}),
    "google": _analogy("google", _FA9121, {
        "valid": "6cedfe7e23745002121d2e8024d771c97d0d7964a598d9226db2c47294ce6e19",
        "test": "4a5ac1d593c842bf3bd98cff7e25d7cd7a69155ec27bc59ae4b58bdcad8a98af"}),
    "bats": _analogy("bats", _FA9121, {
        "valid": "38ae4f96b0652d3672523a84100aaf49b173321d4992ab62ce0da0d858615e33",
        "test": "b6735038ac529f9b79342f88c9726f0dcfefd804a37d4739dc73ad6edb6353d7"}),
    "conceptnet": _relbert_analogy("conceptnet", "conceptnet_relational_similarity", {
        "valid": "ee77034648578b21b9d499822d9463881c97da4174ace37360e3d8885504fd68",
        "test": "1b663d11188393f74e730e11a118ccac30e1d7d504f1e3d9b062d38d9d2b9dd0"}),
    "t_rex_draft": _relbert_analogy("t_rex_draft", "t_rex_relational_similarity", {
        "valid": "100c9d1e326657f23eede2173edd9f9b57201f8ed5779cd58d5c47319297079d",
        "test": "e7f8bdb3f763e0eac9516dc08b87af352b363acbbb18d38b03e68c4a84e432b7"}),
    "relation_mapping": [DataFile(
        "relation_mapping/data.jsonl",
        _RELBERT.format(commit="ec51bf651b0b8b28f528a3a8c47ec0b5259a0904",
                        path="experiments/relation_mapping_problem/relation_mapping_data.jsonl"),
        "0eb34f129fd015fa6716ecf1a0a7a828e20b832e1a19023848e8e521d721317f")],
    "BLESS": _lexical("BLESS", {
        "train": "b263f0e9e149d46e9041c58d05450888b310ae53c74d8b7c7ae6560d976c63b5",
        "val": "0dc10e33b07b68df6f6417c9b0cf6bc6e0cdb3a8dc2eb0f6c8e33063a8ca87e7",
        "test": "d0aa1bc1a5f011bd33d8602427365c77d8654fc3cf7c83ca7bf5d9f6b61a0c11"}),
    "EVALution": _lexical("EVALution", {
        "train": "c0c0b543d4c04e6ff2b008281c0fd4d31a8b274d92edf1c9dcf67c54a9278680",
        "val": "b589816890ea53f3066c9298012aeb88441f53099335d5ee7e8607975a8fbb7e",
        "test": "e18e71b687a389ad7efcc1a0750e1fbf6c175a5a4f1497f6429ed7a33289e683"}),
    "K&H+N": _lexical("K&H+N", {
        "train": "b46aa5907400541b023227c51e82c135113e466da6fe853b5a71c3844ed2f01b",
        "val": "9407a475ef312487493d88b0d2b53f60d7335cc5baa0f183e09c8909761f418b",
        "test": "81dde29d83cd46dc96881200786b89555ee87e57122dc5aef11435a9f6420eb7"}),
    "ROOT09": _lexical("ROOT09", {
        "train": "a6ef6425da3ae382c4e627effe90209af4dff73d51e959831d4e1d0f974ddf75",
        "val": "859c24559045d5519336410fccc90534fa78d8566126fecc970cc64569c8a485",
        "test": "ac90719e645eb180415ecca22ca0c772d076f738bfef47971345ea914c6238c5"}),
    "semeval2012_task2": _semeval(SEMEVAL_COMMIT, read_pins(SEMEVAL_PINS)),
}
#: What ``relbert-download data`` does not fetch, and where to get it.
NOT_FETCHED = {
    "lexical_relation/CogALexV": "CogALex-V: the shared task's CogALexV_{train,test}_v1 folders, into "
                                 "DATA/lexical_relation/CogALexV/",
}


def normalized(raw: bytes) -> bytes:
    """The text with exactly one final newline (what the pinned hashes are of, and what is written)."""
    return raw.rstrip(b"\r\n") + b"\n"


def http_get(url: str, timeout: float = 60.0) -> bytes:
    """The body at ``url``; a network failure is a one-line :class:`DownloadError`."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - pinned https URLs
            return response.read()
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(f"cannot fetch {url}: {reason} (relbert-download data needs the network once)") from None


def fetch_data(home: Path, sets: Optional[Iterable[str]] = None, get: Optional[Callable[[str], bytes]] = None,
               sources: Optional[Dict[str, List[DataFile]]] = None,
               report: Callable[[str], None] = lambda line: None) -> Path:
    """Fetch ``sets`` (default: every one in ``sources``) into ``home/data``; returns that folder.

    Every file is verified before any is moved into place; a file already there with the right
    hash is kept without fetching it again.
    """
    sources = SOURCES if sources is None else sources
    get = http_get if get is None else get
    names = list(sources) if sets is None else list(sets)
    unknown = [n for n in names if n not in sources]
    if unknown:
        raise DownloadError(f"unknown data set {unknown[0]!r}: choose among {', '.join(sources)}")
    root = Path(home) / "data"
    created = [p for p in (Path(home), root) if not p.exists()]  # removed again if nothing lands in them
    root.mkdir(parents=True, exist_ok=True)
    try:
        return _fetch_into(root, names, sources, get, report)
    except BaseException:
        for folder in reversed(created):  # a failed first download leaves the home as it was
            try:
                folder.rmdir()
            except OSError:
                pass  # not empty: something else lives there
        raise


def _fetch_into(root: Path, names: List[str], sources: Dict[str, List[DataFile]], get, report) -> Path:
    """The fetch itself (see :func:`fetch_data`)."""
    wanted = [f for name in names for f in sources[name]]
    missing = [f for f in wanted if not _verified(root / f.target, f.sha256)]
    if not missing:
        report(f"data: {len(wanted)} files already in {root}, verified")
        return root
    staging = Path(tempfile.mkdtemp(prefix=".tmp-data-", dir=root))
    try:
        fetched: Dict[str, bytes] = {}
        for index, item in enumerate(missing, start=1):
            if item.url not in fetched:
                report(f"[{index}/{len(missing)}] fetching {item.url}")
                fetched[item.url] = get(item.url)
            body = _member(fetched[item.url], item) if item.member else fetched[item.url]
            content = normalized(body)
            digest = hashlib.sha256(content).hexdigest()
            if digest != item.sha256:
                raise DownloadError(f"{item.target}: sha256 {digest[:16]}... is not the pinned {item.sha256[:16]}... "
                                    f"({item.url}{'#' + item.member if item.member else ''} changed or is corrupt); "
                                    "nothing was written")
            staged = staging / item.target
            staged.parent.mkdir(parents=True, exist_ok=True)
            staged.write_bytes(content)
        for item in missing:  # every file verified: move them into place
            target = root / item.target
            target.parent.mkdir(parents=True, exist_ok=True)
            replace_file(staging / item.target, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report(f"data: {len(missing)} files fetched and verified into {root}")
    return root


def _verified(path: Path, sha256: str) -> bool:
    return path.is_file() and hashlib.sha256(normalized(path.read_bytes())).hexdigest() == sha256


def _member(archive: bytes, item: DataFile) -> bytes:
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            handle = tar.extractfile(item.member)
            if handle is None:
                raise KeyError(item.member)
            return handle.read()
    except KeyError:
        raise DownloadError(f"{item.url}: no {item.member} in the archive (its layout changed)") from None
    except tarfile.TarError as err:
        raise DownloadError(f"{item.url}: not a readable archive ({err})") from None
