"""What every command shares: the command class (one error line), model loading, output checks.

A command is parsing and reporting only; the work lives in the library. A user's mistake is a
:class:`relbert.errors.UserError`, printed by :class:`Command` as one line (``error: ...``) with
its exit status; anything else is a bug and keeps its traceback. Shared options: :mod:`.options`.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import UsageError


#: Every command's help options.
CONTEXT = {"help_option_names": ["-h", "--help"]}


class Command(click.Command):
    """Every relbert command: ``-h``/``--help``, and the one place a :class:`~relbert.errors.UserError`
    becomes one line (``error: ...``) and its exit status (2; 1 for a failed download; 130 for
    Ctrl-C). Other exceptions pass through with their traceback."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("context_settings", dict(CONTEXT))
        super().__init__(*args, **kwargs)

    def invoke(self, ctx: click.Context):
        from ..errors import UserError

        try:
            return super().invoke(ctx)
        except UserError as err:
            click.echo(f"error: {str(err).splitlines()[0]}", err=True)
            sys.exit(err.exit_code)


class Group(Command, click.Group):
    """A command with subcommands (``relbert-eval analogy``): each is a :class:`Command`, and the
    group itself takes the same help options and error path."""

    command_class = Command


def load_model(model, template, aggregation, max_length, device, precision="auto", compile=False, runtime=None,
               offset_weight=None):
    """Load a RelBERT model (a failure to load is a UserError: :class:`Command` prints its line)."""
    from ..model import RelBERT

    return RelBERT.from_pretrained(model, template=template, aggregation=aggregation, max_length=max_length,
                                   device=device, precision=precision, compile=compile, runtime=runtime,
                                   offset_weight=offset_weight)


def check_output(output) -> Path:
    """``output`` as a path whose folder exists and takes new files; else one error line (exit 2)
    naming the output, before any model loads or any evaluation runs."""
    import os
    import tempfile

    out = Path(output)
    folder = out.parent
    if not folder.is_dir():
        raise UsageError(f"{output}: the output folder {folder} does not exist")
    if out.is_dir():
        raise UsageError(f"{output}: is a folder, not a file")
    try:  # a real probe: access() says yes to root even where nothing can be created (/proc)
        fd, probe = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".probe", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise UsageError(f"{output}: cannot write in the output folder {folder} ({err.strerror})")
    return out
