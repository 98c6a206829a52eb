"""Where relbert keeps what it fetches and measures: ``$RELBERT_HOME``, else ``~/.cache/relbert``."""
from __future__ import annotations

import os
from pathlib import Path


def relbert_home() -> Path:
    """The cache folder: ``$RELBERT_HOME``, else ``~/.cache/relbert``."""
    return Path(os.environ.get("RELBERT_HOME") or Path.home() / ".cache" / "relbert").expanduser()
