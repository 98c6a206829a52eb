"""Writing outputs whole: a reader sees the old file (or folder) or the new one, never half of either.

Every file or folder relbert writes for the user goes through here: :func:`atomic_output` (a
temporary file renamed into place on success), :func:`write_json_atomic`, :func:`atomic_folder`,
and the two replace sites (:func:`replace_file`, :func:`replace_folder`).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Optional, Union


def write_json_atomic(path: Union[str, Path], data, indent: Optional[int] = None, ensure_ascii: bool = True) -> None:
    """``data`` as JSON in UTF-8 (and a final newline), replacing ``path`` whole through
    :func:`atomic_output`: the package's one way to write a JSON file that must never be seen half-written."""
    import json

    with atomic_output(path) as handle:
        handle.write((json.dumps(data, indent=indent, ensure_ascii=ensure_ascii) + "\n").encode("utf-8"))


def default_file_mode() -> int:
    """The mode a plain ``open(path, "w")`` gives a new file: 0o666 less the user's umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def give_default_mode(path: Union[str, Path]) -> None:
    """Give a file made by ``mkstemp`` (always 0600) the mode of any other new file of the user."""
    os.chmod(path, default_file_mode())


@contextlib.contextmanager
def atomic_output(path: Union[str, Path], mode: str = "wb"):
    """Open a temporary file beside ``path``; rename it over ``path`` only on success.

    On any exception the temporary file is removed and an existing ``path`` is untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent if str(path.parent) else ".")
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        give_default_mode(tmp)
        replace_file(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def replace_file(source: Union[str, Path], target: Union[str, Path]) -> None:
    """A finished file takes its final name: one atomic rename on one file system, so a reader
    sees the old file or the new one, never half of either. The package's one file-replace site."""
    os.replace(source, target)


def replace_folder(source: Union[str, Path], target: Union[str, Path]) -> None:
    """A finished folder takes its final name, replacing ``target`` whole (an existing one is
    removed first: a folder cannot be renamed over a non-empty one). The package's one
    folder-replace site; what is seen is the old folder, nothing (for an instant) or the new one."""
    import shutil

    if Path(target).exists():
        shutil.rmtree(target)
    os.replace(source, target)


@contextlib.contextmanager
def atomic_folder(target: Union[str, Path]):
    """A temporary folder beside ``target`` to fill; it replaces ``target`` whole only on success
    (:func:`replace_folder`), and is removed on any exception (``target`` untouched)."""
    import shutil

    target = Path(target)
    tmp = target.with_name(target.name + ".tmp")
    if tmp.exists():  # left by a run killed before it could clean up
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        replace_folder(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
