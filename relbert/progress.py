"""Progress: a tqdm bar on a terminal (with its rate and time left); where stderr is a file or a
pipe, where each refresh would only pile up on one endless line, one plain line at most every
:data:`LINE_INTERVAL` seconds (a log stays readable, and a long run still says how far it got)."""
from __future__ import annotations

import sys
import time

#: Seconds between two progress lines off a terminal (a run shorter than this prints none).
LINE_INTERVAL = 60.0


def progress_bar(show: bool = True, **kwargs):
    """A ``tqdm`` bar on stderr where ``show`` and stderr is a terminal; off a terminal a
    :class:`ProgressLines` (a line a minute at most); nothing unless ``show``."""
    from tqdm.auto import tqdm

    if show and not _stderr_is_terminal():
        return ProgressLines(**kwargs)
    return tqdm(disable=not (show and _stderr_is_terminal()), **kwargs)


class ProgressLines:
    """tqdm's ``update`` / ``set_postfix`` / ``close`` (and context manager), printing
    ``desc: n/total unit (rate/s, about S s left)`` at most every ``interval`` seconds."""

    def __init__(self, total=None, initial=0, desc="", unit="it", interval=LINE_INTERVAL, stream=None, **_ignored):
        self.total, self.n, self.desc, self.unit, self.interval = total, initial, desc, unit, interval
        self.stream = stream
        self.postfix = ""
        self.start = self.last = time.monotonic()
        self.start_n = initial

    def update(self, n=1):
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self._print(now)

    def set_postfix(self, **values):
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def _print(self, now):
        rate = (self.n - self.start_n) / max(now - self.start, 1e-9)
        where = f"{self.n:,}/{self.total:,}" if self.total else f"{self.n:,}"
        left = f", about {(self.total - self.n) / rate:,.0f} s left" if self.total and rate > 0 else ""
        extra = f", {self.postfix}" if self.postfix else ""
        print(f"{self.desc}: {where} {self.unit} ({rate:,.1f} {self.unit}/s{left}{extra})",
              file=self.stream or sys.stderr, flush=True)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False
