"""Every command's --help covers every option, and -q means --quiet everywhere."""
from __future__ import annotations

import click
import pytest

from relbert import cli

COMMANDS = {"relbert-embed": cli.embed, "relbert-train": cli.train, "relbert-search": cli.search,
            "relbert-index": cli.index,
            "relbert-download": cli.download, **{f"relbert-eval {n}": c for n, c in cli.evaluate.commands.items()}}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_has_help_and_q_is_quiet(name):
    command = COMMANDS[name]
    assert command.help, f"{name} has no description"
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help and param.help.strip(), f"{name} {param.opts} has no help text"
            if "-q" in param.opts:
                assert "--quiet" in param.opts, f"{name}: -q is {param.opts}"
