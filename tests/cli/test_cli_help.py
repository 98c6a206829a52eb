"""Every command's --help covers every option, and -q means --quiet everywhere."""
from __future__ import annotations

import click
import pytest

from relbert import cli

COMMANDS = {"relbert-embed": cli.embed, "relbert-train": cli.train, "relbert-search": cli.search,
            "relbert-index": cli.index, "relbert-plot": cli.plot,
            "relbert-download": cli.download, **{f"relbert-eval {n}": c for n, c in cli.evaluate.commands.items()},
            **{f"tools {n}": c for n, c in cli.tools.commands.items()}}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_has_help_and_q_is_quiet(name):
    command = COMMANDS[name]
    assert command.help, f"{name} has no description"
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help and param.help.strip(), f"{name} {param.opts} has no help text"
            if "-q" in param.opts:
                assert "--quiet" in param.opts, f"{name}: -q is {param.opts}"


MODEL_OPTIONS = {"--model", "--template", "--aggregation", "--max-length", "--device", "--precision", "--runtime"}


def options_of(command):
    return {opt for p in command.params if isinstance(p, click.Option) for opt in p.opts}


@pytest.mark.parametrize("name", ["relbert-embed", "relbert-search", "relbert-eval analogy",
                                  "relbert-eval classification", "relbert-eval mapping"])
def test_readme_claim_model_options(name):
    """README, Command line: these commands take every model option."""
    assert MODEL_OPTIONS <= options_of(COMMANDS[name])


def test_readme_claim_train_options_and_quiet_everywhere_but_compare():
    train = COMMANDS["relbert-train"]
    assert MODEL_OPTIONS - {"--runtime"} <= options_of(train)
    precision = next(p for p in train.params if "--precision" in p.opts)
    assert list(precision.type.choices) == ["auto", "fp32", "bf16"]
    from relbert.training.config import RECIPES

    assert precision.default is None and RECIPES["fast"]["precision"] == "auto"  # the default recipe's
    for name, command in COMMANDS.items():
        assert ("-q" in options_of(command)) == (name != "relbert-eval compare"), name


def test_train_choices_are_the_training_modules_lists():
    """relbert-train's choice lists are imported from relbert.training.config, not retyped."""
    from relbert.training import config

    choices = {p.name: list(p.type.choices) for p in cli.train.params if isinstance(p.type, click.Choice)}
    assert choices["loss"] == list(config.LOSSES)
    assert choices["selection"] == list(config.SELECTIONS)
    assert choices["lr_schedule"] == list(config.LR_SCHEDULES)
    assert choices["precision"] == list(config.TRAIN_PRECISIONS)


@pytest.mark.parametrize("name, default", [("relbert-embed", "auto"), ("relbert-search", "auto"),
                                           ("relbert-eval analogy", "fp32"), ("relbert-eval validation", "fp32")])
def test_inference_precision_defaults(name, default):
    """relbert-embed and relbert-search choose the precision (auto); evaluation reports fp32 unless asked."""
    from relbert.runtime.precision import PRECISIONS

    precision = next(p for p in COMMANDS[name].params if "--precision" in p.opts)
    assert precision.default == default and list(precision.type.choices) == ["auto", *PRECISIONS]


@pytest.mark.parametrize("name, new", [("relbert-embed", "--rows-per-chunk"), ("relbert-train", "--prompts-per-pass"),
                                       ("relbert-index", "--rows-per-read")])
def test_the_earlier_spellings_are_gone(name, new, tmp_path):
    """--chunk-size meant three things; each command names what it counts. The earlier spellings
    (--chunk-size, --backend, --bf16) went in 0.3 as promised, so click never offers them: a
    misspelt option is matched against the visible ones only."""
    from click.testing import CliRunner

    command = COMMANDS[name]
    every = {opt for p in command.params if isinstance(p, click.Option) for opt in p.opts}
    assert new in every and not every & {"--chunk-size", "--backend", "--bf16"}
    assert not [p for p in command.params if isinstance(p, click.Option) and p.hidden]
    result = CliRunner().invoke(command, ["--chunk-siz", "8"])
    assert result.exit_code == 2 and "--chunk-size" not in result.output.replace("--chunk-siz ", "")
    if name == "relbert-embed":
        result = CliRunner().invoke(command, ["p.tsv", "-o", "x.npy", "--batchsize", "8"])
        assert result.exit_code == 2 and "--batch-size" in result.output and "--chunk-size" not in result.output


def test_every_choice_list_is_its_modules():
    """Every click.Choice of every command is the list its module defines (imported, not retyped)."""
    from relbert import plot, templates
    from relbert.embedding import formats
    from relbert.models import named as named_models
    from relbert.runtime import interface as runtime, precision
    from relbert.search import index as ann

    from relbert.training.config import OFFSET_GRADIENTS

    expected = {"aggregation": list(templates.AGGREGATIONS), "runtime": list(runtime.RUNTIMES),
                "fmt": list(formats.FORMATS), "kind": list(ann.KINDS),
                "name": [*sorted(named_models.NAMED_MODELS), "data"], "method": list(plot.METHODS),
                "offset_gradient": list(OFFSET_GRADIENTS)}
    seen = set()
    for name, command in COMMANDS.items():
        for param in command.params:
            if not isinstance(param.type, click.Choice) or param.name not in expected and param.name != "precision":
                continue
            seen.add(param.name)
            if param.name == "precision":
                allowed = [["auto", *precision.PRECISIONS], ["auto", "fp32", "bf16"]]
                assert list(param.type.choices) in allowed, name
            else:
                assert list(param.type.choices) == expected[param.name], (name, param.name)
    assert seen == set(expected) | {"precision"}
