"""Reading pair files and JSON records (writing them whole is :mod:`relbert.atomic`).

Pairs file format (``relbert-embed`` input): UTF-8 text, one pair per line, ``head<TAB>tail``.
Words may contain spaces. There is no header and no comment syntax: every line is a pair,
so row i of the output always belongs to line i+1 of the input. A final newline is optional;
``\\r\\n`` line ends are accepted. Blank lines, lines with one field or more than two, empty
words and invalid UTF-8 are errors that name the file and line.
"""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import BinaryIO, Iterator, List, Optional, Tuple, Union

from .errors import InputError

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
    from .version import __version__

    return __version__


@contextlib.contextmanager
def _open_binary(source: str) -> Iterator[BinaryIO]:
    if source == "-":
        yield sys.stdin.buffer
    else:
        with open(source, "rb") as handle:
            yield handle
