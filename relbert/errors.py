"""Every error class relbert defines, under one base for the user's mistakes.

:class:`UserError` is a mistake of the user's (a malformed file, an unknown model, a bad option,
a changed input on --resume): the commands print it as one line (``error: ...``) and exit with
:attr:`UserError.exit_code` (2; 1 for a failed download). Anything else is a bug and keeps its
traceback. Each class also keeps the built-in base it always had (ValueError, OSError,
RuntimeError), so ``except ValueError`` in user code still catches what it caught. Each is
imported from here (no module re-exports them).
"""
from __future__ import annotations

from typing import Dict, Tuple

Pair = Tuple[str, str]


class UserError(Exception):
    """A mistake of the user's: one line, exit status :attr:`exit_code`, no traceback."""

    exit_code = 2


class OptionError(UserError, ValueError):
    """An option the user gave is invalid (template, aggregation, precision, runtime, training
    options): one line."""


class UsageError(UserError, ValueError):
    """A command that cannot run as given: a missing, unreadable or unwritable file or folder,
    options that exclude each other, a data set that is not there (one line, exit status 2)."""


class Interrupted(UserError):
    """Ctrl-C during long work: the line says what was kept and how to continue (exit status 130)."""

    exit_code = 130


class InputError(UserError, ValueError):
    """Bad user input, reported as ``FILE:LINE: what is wrong``."""

    def __init__(self, source: str, line: int, problem: str):
        self.source, self.line, self.problem = source, line, problem
        super().__init__(f"{source}:{line}: {problem}")


class PromptTooLongError(UserError, ValueError):
    """Prompts longer than ``max_length``: truncating them would cut the pair out."""

    def __init__(self, lengths: Dict[Pair, int], max_length: int):
        self.lengths, self.max_length = lengths, max_length
        shown = "; ".join(f"{h!r}:{t!r} ({n} tokens)" for (h, t), n in list(lengths.items())[:5])
        more = f" and {len(lengths) - 5} more" if len(lengths) > 5 else ""
        super().__init__(
            f"{len(lengths)} prompt(s) exceed max_length={max_length} and would be truncated, "
            f"losing the pair: {shown}{more}. Raise max_length or shorten the words."
        )


class ResumeError(UserError, ValueError):
    """--resume cannot continue: no progress file, or the input, model or options changed."""


class ModelLoadError(UserError, OSError):
    """A model name or folder cannot be loaded (base of :class:`ModelNotFoundError`)."""


class ModelNotFoundError(ModelLoadError):
    """The model name or folder could not be loaded."""


class ModelFolderError(ModelNotFoundError):
    """A local model folder that is missing, empty, half-copied, or holds a broken ``config.json``
    or truncated weights: one line naming the folder, the file and what to do."""


class UnsafeCheckpointError(ModelNotFoundError):
    """A pickled weights file needs more than tensors and plain containers: refused, never run."""


class BaseNotFetchedError(UserError, OSError):
    """A named model's base encoder is not in the cache (run ``relbert-download NAME``)."""


class NonFiniteError(UserError, ValueError):
    """A NaN or infinity where a number must be finite (a vector, a probability, a loss): the work
    stops at the first one, naming where, and writes nothing."""


class PairError(UserError, ValueError):
    """A word pair given to the Python API that is not two non-empty strings."""


class ClassifierError(UserError):
    """A classifier folder that cannot be used (missing, corrupt, made by another model)."""


class IndexError_(UserError, ValueError):
    """A missing, corrupt or mismatched index (one line for the CLI)."""


class CollectionError(UserError, ValueError):
    """An embedded collection that cannot be searched as asked: not a relbert-embed output, rows
    that do not match its pairs, or a query model of another width (one line for the CLI)."""


class KindMismatchError(CollectionError, ClassifierError, UsageError):
    """Vectors (or features) of another kind than the ones they meet: another model, template,
    aggregation, offset weight or width (:meth:`relbert.embedding.kind.VectorKind.check`)."""


class DatasetError(UserError, ValueError):
    """A dataset that cannot be evaluated as it is (say, one label only in a training split)."""


class DownloadError(UserError, RuntimeError):
    """The fetch failed; the message says why (network, hash, disk space, pip). Exit status 1."""

    exit_code = 1


class NewerFormatWarning(UserWarning):
    """A record this package wrote holds keys this version does not know (a newer relbert wrote it):
    they are ignored, and said once per record kind and keys."""
