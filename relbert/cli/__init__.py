"""Command-line entry points, one module per command (group):

- :mod:`relbert.cli.embed_command` (``relbert-embed``), :mod:`relbert.cli.train_command` (``relbert-train``),
  :mod:`relbert.cli.evaluate_command` (``relbert-eval``), :mod:`relbert.cli.search_command` (``relbert-search``),
  :mod:`relbert.cli.index_command` (``relbert-index``), :mod:`relbert.cli.download_command` (``relbert-download``),
  :mod:`relbert.cli.plot_command` (``relbert-plot``), :mod:`relbert.cli.classify_command` (``relbert-classify``);
- :mod:`relbert.cli.common`: the one error line, model loading, output checks, shared options.

Parsing and reporting only; the work lives in the library. ``python -m relbert.cli`` is
``relbert-embed``.
"""
from .classify_command import classify  # noqa: F401
from .common import EXIT_BAD_INPUT, fail, load_model  # noqa: F401
from .download_command import download  # noqa: F401
from .embed_command import embed  # noqa: F401
from .evaluate_command import evaluate  # noqa: F401
from .index_command import index  # noqa: F401
from .plot_command import plot  # noqa: F401
from .search_command import search  # noqa: F401
from .train_command import RUN_FILES, train  # noqa: F401
