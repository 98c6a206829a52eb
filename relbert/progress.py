"""Progress bars: tqdm on a terminal; nothing where stderr is a file or a pipe, where each
refresh would only pile up on one endless line (the commands' closing lines say what was done)."""
from __future__ import annotations

import sys


def progress_bar(show: bool = True, **kwargs):
    """A ``tqdm`` bar on stderr, disabled unless ``show`` and stderr is a terminal."""
    from tqdm.auto import tqdm

    return tqdm(disable=not (show and _stderr_is_terminal()), **kwargs)


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False
