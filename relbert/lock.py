"""One run per output: a lock file beside what a long command writes (``.NAME.lock``).

A second run writing the same output refuses at once, naming the first, instead of failing later
on the other's half-written work files. A lock left by a killed run (its process is gone) is
stale and taken over.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Optional, Union

from .errors import UsageError


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
