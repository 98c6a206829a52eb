"""Locating the shared data folder (``../shared/data`` beside a checkout)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

ENV_VAR = "RELBERT_DATA"


def data_root(explicit: Optional[str] = None) -> Path:
    """The data folder: ``explicit``, else ``$RELBERT_DATA``, else ``$RELBERT_HOME/data`` (where
    ``relbert-download data`` puts it), else ``../shared/data`` (from the working directory, then
    from the source checkout).

    Raises:
        FileNotFoundError: ``explicit`` is given and is no folder, or none of the others exists.
    """
    if explicit:  # given by the user: that folder or an error, never a silent fallback
        if not Path(explicit).is_dir():
            raise FileNotFoundError(f"data folder not found: {explicit}")
        return Path(explicit)
    candidates = []
    if os.environ.get(ENV_VAR):
        candidates.append(os.environ[ENV_VAR])
    from ..home import relbert_home

    candidates.append(relbert_home() / "data")
    candidates += [Path.cwd().parent / "shared" / "data", Path(__file__).resolve().parents[3] / "shared" / "data"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    tried = ", ".join(str(c) for c in candidates if c)
    raise FileNotFoundError(f"data folder not found (tried {tried}); run relbert-download data, pass --data-dir "
                            f"or set {ENV_VAR}")


def known_or_fetch(what: str, known, data_dir: Path) -> str:
    """The end of a "not found" line: the sets the data folder has, or (none) that it holds none
    of them and ``relbert-download data`` fetches them."""
    known = list(known)
    if known:
        return f"known: {', '.join(known)}"
    return f"the data folder {data_dir} holds none (run relbert-download data, or pass --data-dir)"


def folder_any_case(root: Path, name: str) -> Path:
    """``root/name``, matching a dataset's folder name in any case (``U2`` finds ``u2``,
    ``cogalexv`` finds ``CogALexV``)."""
    exact = root / name
    if exact.is_dir() or not root.is_dir():
        return exact
    return next((p for p in sorted(root.iterdir()) if p.is_dir() and p.name.casefold() == name.casefold()), exact)


def data_folder(data_dir):
    """The data folder (:func:`data_root`), or None when none is found and none was asked for; a
    folder asked for that is not there is a one-line UsageError."""
    from ..errors import UsageError

    try:
        return data_root(data_dir)
    except FileNotFoundError as err:
        if data_dir:
            raise UsageError(str(err))
        return None


def load_datasets(datasets, data_dir, available, resolve):
    """Resolve dataset names/paths (default: every one ``available`` lists under the data folder);
    a missing or malformed dataset is one error line, exit 2."""
    from ..errors import InputError, UsageError

    root = data_folder(data_dir)
    if not datasets:
        if root is None:
            raise UsageError("no --dataset given and no data folder found (run relbert-download data, pass "
                             "--data-dir or set RELBERT_DATA)")
        datasets = available(root)
        if not datasets:
            raise UsageError(f"no datasets of this task found in the data folder {root} (run relbert-download "
                             "data, or pass --data-dir)")
    try:
        return [resolve(d, root) for d in datasets]
    except (InputError, FileNotFoundError) as err:
        raise UsageError(str(err))
