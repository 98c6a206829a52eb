"""Command-line entry points, one module per command (group):

- :mod:`relbert.cli.embed_command` (``relbert-embed``), :mod:`relbert.cli.train_command` (``relbert-train``),
  :mod:`relbert.cli.evaluate_command` (``relbert-eval``), :mod:`relbert.cli.search_command` (``relbert-search``),
  :mod:`relbert.cli.index_command` (``relbert-index``), :mod:`relbert.cli.download_command` (``relbert-download``),
  :mod:`relbert.cli.plot_command` (``relbert-plot``), :mod:`relbert.cli.classify_command` (``relbert-classify``);
- :mod:`relbert.cli.common`: the command class (:class:`~relbert.cli.common.Command`: the one error
  path, every command's), model loading, output checks; :mod:`relbert.cli.options`: shared options.

Parsing and reporting only; the work lives in the library. The commands are importable from
here (``from relbert.cli import embed``). ``python -m relbert.cli`` is ``relbert-embed``;
``python -m relbert.cli.train_command`` is ``relbert-train`` (``torchrun -m`` takes either).
"""
from __future__ import annotations

import importlib

#: Each command and the module it lives in (imported on first use: a console script loads its own only).
_HOMES = {"classify": "classify_command", "download": "download_command", "embed": "embed_command",
          "evaluate": "evaluate_command", "index": "index_command", "info": "info_command", "plot": "plot_command",
          "search": "search_command", "tools": "tools_command", "train": "train_command"}
__all__ = sorted(_HOMES)


def __getattr__(name):
    if name in _HOMES:
        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module 'relbert.cli' has no attribute {name!r}")
