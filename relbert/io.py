"""Reading pair files and writing outputs atomically.

Pairs file format (``relbert-embed`` input): UTF-8 text, one pair per line, ``head<TAB>tail``.
Words may contain spaces. There is no header and no comment syntax: every line is a pair,
so row i of the output always belongs to line i+1 of the input. A final newline is optional;
``\\r\\n`` line ends are accepted. Blank lines, lines with one field or more than two, empty
words and invalid UTF-8 are errors that name the file and line.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import BinaryIO, Iterator, List, Optional, Tuple, Union

from .errors import InputError, UsageError

Pair = Tuple[str, str]


def parse_pair_line(raw: bytes, source: str, lineno: int) -> Pair:
    """Parse one line (bytes, line end included or not) of a pairs file."""
    text = decode_line(raw, source, lineno).rstrip("\n")
    if lineno == 1 and text.startswith("\ufeff"):
        text = text[1:]  # a UTF-8 byte-order mark (some editors write one) is not part of the head word
    if text.endswith("\r"):
        text = text[:-1]
    if not text.strip():
        raise InputError(source, lineno, "blank line (expected head<TAB>tail)")
    fields = text.split("\t")
    if len(fields) != 2:
        what = "one field" if len(fields) == 1 else f"{len(fields)} fields"
        hint = ""
        if len(fields) == 1 and ("," in text or ";" in text):
            hint = f" (the separator is a tab, not {'a comma' if ',' in text else 'a semicolon'})"
        elif len(fields) == 1 and " " in text.strip():
            hint = " (the separator is a tab, not a space; words may contain spaces)"
        raise InputError(source, lineno, f"expected 2 tab-separated fields (head<TAB>tail), found {what}{hint}")
    for name, word in zip(("head", "tail"), fields):
        if not word.strip():
            raise InputError(source, lineno, f"empty {name} word")
    return fields[0], fields[1]


def pair_lines(handle, source: str) -> Iterator[Tuple[bytes, Optional[Pair]]]:
    """``(raw line, pair)`` for every line of a pairs file: blank lines at the end are ignored
    (yielded with ``None`` for the pair, so a digest still sees every byte); a blank line with a
    pair after it is an :class:`InputError` naming it."""
    pending: List[Tuple[int, bytes]] = []  # blank lines not yet known to be trailing
    for lineno, raw in enumerate(handle, start=1):
        if not raw.strip():
            pending.append((lineno, raw))
            continue
        if pending:
            parse_pair_line(pending[0][1], source, pending[0][0])  # raises: a blank line inside the file
        yield raw, parse_pair_line(raw, source, lineno)
    for _, raw in pending:
        yield raw, None


def decode_line(raw: bytes, source: str, lineno: int) -> str:
    """One line as text; invalid UTF-8 is an InputError naming the byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(source, lineno, f"invalid UTF-8 at byte {err.start}") from None


def iter_json_records(path: Union[str, Path], what: str = "record") -> Iterator[Tuple[int, dict]]:
    """``(line number, object)`` for each line of a JSONL file; any bad line is an InputError."""
    source = str(path)
    with open(path, "rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            text = decode_line(raw, source, lineno)
            if not text.strip():
                raise InputError(source, lineno, f"blank line (expected a JSON {what})")
            try:
                record = json.loads(text)
            except json.JSONDecodeError as err:
                raise InputError(source, lineno, f"bad JSON: {err.msg} at column {err.colno}") from None
            if not isinstance(record, dict):
                raise InputError(source, lineno, f"a {what} must be a JSON object")
            yield lineno, record


def iter_pairs(path: Union[str, Path]) -> Iterator[Pair]:
    """Yield the pairs of a pairs file (``-`` = standard input), validating each line."""
    source = str(path)
    with _open_binary(source) as handle:
        for _, pair in pair_lines(handle, source):
            if pair is not None:
                yield pair


#: How much of a pairs file is checked before the heavy imports (torch, transformers: seconds):
#: all of a file up to this size, else its start; the planning pass checks every line anyway.
PRECHECK_BYTES = 16 * 2**20


def precheck_pairs(path: Union[str, Path], limit: int = PRECHECK_BYTES) -> None:
    """Validate the lines of a pairs file's first ``limit`` bytes (all of a smaller file), with no
    model and no heavy import: a wrong separator, a blank line, bad UTF-8 or an empty file is
    reported in well under a second. Raises :class:`InputError`."""
    source = str(path)
    read = pairs = 0
    with open(path, "rb") as handle:
        for raw, pair in pair_lines(handle, source):
            read += len(raw)
            pairs += pair is not None
            if read >= limit:
                return
    if pairs == 0:
        raise InputError(source, 1, "no pairs: the file is empty (expected head<TAB>tail lines)")


def read_pairs(path: Union[str, Path]) -> List[Pair]:
    """Read and validate a whole pairs file (``-`` = standard input).

    Raises:
        InputError: ``FILE:LINE: problem`` for the first bad line.
    """
    return list(iter_pairs(path))


def write_json_atomic(path: Union[str, Path], data, indent: Optional[int] = None, ensure_ascii: bool = True) -> None:
    """``data`` as JSON in UTF-8 (and a final newline), replacing ``path`` whole through
    :func:`atomic_output`: the package's one way to write a JSON file that must never be seen half-written."""
    import json

    with atomic_output(path) as handle:
        handle.write((json.dumps(data, indent=indent, ensure_ascii=ensure_ascii) + "\n").encode("utf-8"))


#: (record kind, unknown keys) already warned about in this process.
_WARNED_KEYS: set = set()


def warn_unknown_keys(record: dict, known, what: str) -> None:
    """Warn once (per ``what`` and set of keys) that ``record`` holds keys this version does not know:
    a newer relbert wrote it; they are ignored, and what this version reads still loads."""
    import warnings

    from .errors import NewerFormatWarning

    unknown = tuple(sorted(set(record) - set(known)))
    if not unknown or (what, unknown) in _WARNED_KEYS:
        return
    _WARNED_KEYS.add((what, unknown))
    warnings.warn(f"relbert: {what} holds {', '.join(unknown)}, which this version ({_version()}) does not know "
                  "(written by a newer relbert?): ignored", NewerFormatWarning, stacklevel=3)


def _version() -> str:
    from . import __version__

    return __version__


@contextlib.contextmanager
def _open_binary(source: str) -> Iterator[BinaryIO]:
    if source == "-":
        yield sys.stdin.buffer
    else:
        with open(source, "rb") as handle:
            yield handle


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


# --- one run per output -----------------------------------------------------------------------
# A lock file beside what a long command writes (``.NAME.lock``): a second run writing the same
# output refuses at once, naming the first, instead of failing later on the other's half-written
# work files. A lock left by a killed run (its process is gone) is stale and taken over.
def lock_path(target: Union[str, Path]) -> Path:
    target = Path(target)
    return target.with_name(f".{target.name}.lock")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    except OSError:
        return False
    return True


def _holder(path: Path) -> Optional[dict]:
    """The lock's record, or None when it is unreadable (a run killed while writing it: stale)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("pid"), int) else None


def _stale(record: Optional[dict]) -> bool:
    if record is None:
        return True
    if record.get("host") != socket.gethostname():
        return False  # another machine's process cannot be checked: trust its lock
    return record["pid"] != os.getpid() and not _alive(record["pid"])


class OutputLock:
    """``with OutputLock(out):`` holds ``.OUT.lock`` for the block (released on any exit)."""

    def __init__(self, target: Union[str, Path]):
        self.target = Path(target)
        self.path = lock_path(target)
        self.held = False

    def acquire(self) -> "OutputLock":
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                  "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:300]}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = _holder(self.path)
                if not _stale(holder):
                    raise UsageError(
                        f"{self.target}: another run is writing it (pid {holder['pid']} on {holder.get('host')}, "
                        f"started {holder.get('started')}: {holder.get('command')}); wait for it to end or stop it "
                        f"(its lock: {self.path})") from None
                with contextlib.suppress(FileNotFoundError):  # a killed run's lock: taken over
                    self.path.unlink()
                continue
            except OSError:
                return self  # a folder that cannot hold the lock: the output's own write will say why
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(record, handle)
            self.held = True
            return self
        raise UsageError(f"{self.target}: could not take the lock {self.path} (another run keeps taking it)")

    def release(self) -> None:
        if self.held:
            holder = _holder(self.path)
            if holder is None or holder.get("pid") == os.getpid():
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
            self.held = False

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
