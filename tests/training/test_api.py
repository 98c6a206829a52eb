"""Training from Python: a TrainConfig and one call, the same run relbert-train makes (the CLI
calls the same two functions: their training_config.json files are equal)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

DATA = Path(__file__).resolve().parents[2] / "examples" / "own_relations.jsonl"


def test_fit_is_what_relbert_train_runs(tmp_path, tiny_model_path):
    from relbert import RelBERT
    from relbert.cli import train
    from relbert.training import TrainConfig, fit

    config = TrainConfig.from_recipe("fast", data=str(DATA), model=tiny_model_path, epochs=1, num_negative=4,
                                     num_positive=4, precision="fp32")
    assert config.recipe == "fast" and config.lr == 2e-5 and config.validation == ["own"]
    lines = []
    result = fit(config, tmp_path / "api", report=lines.append, show_progress=False)
    assert result["model_dir"] == tmp_path / "api" / "model" and result["best_epoch"] in (0, 1)
    assert any(line.startswith("epoch 1: validation") for line in lines) and result["summary"] in lines
    cli = CliRunner().invoke(train, ["-o", str(tmp_path / "cli"), "--data", str(DATA), "--model", tiny_model_path,
                                     "--epochs", "1", "--num-negative", "4", "--num-positive", "4", "--precision",
                                     "fp32", "-q"])
    assert cli.exit_code == 0, cli.output
    api_config = json.loads((tmp_path / "api" / "training_config.json").read_text())
    cli_config = json.loads((tmp_path / "cli" / "training_config.json").read_text())
    assert api_config == cli_config
    pairs = [("paris", "france"), ("dog", "bark")]
    a = RelBERT.from_pretrained(str(tmp_path / "api" / "model"), device="cpu", precision="fp32").embed(pairs)
    b = RelBERT.from_pretrained(str(tmp_path / "cli" / "model"), device="cpu", precision="fp32").embed(pairs)
    np.testing.assert_allclose(a, b, atol=1e-5)  # the same seed, the same run


def test_from_recipe_refuses_what_is_no_option(tiny_model_path):
    import pytest

    from relbert.errors import OptionError
    from relbert.training import TrainConfig

    with pytest.raises(OptionError, match="learning_rate"):
        TrainConfig.from_recipe("fast", data=str(DATA), model=tiny_model_path, learning_rate=1e-3)


def test_from_options_sets_the_renamed_fields_and_refuses_what_is_no_option(tiny_model_path):
    """relbert-train's --memory-budget and --train-offset-weight set fields of other names; an
    option that sets no field is refused, never dropped."""
    import pytest

    from relbert.errors import OptionError
    from relbert.training import TrainConfig

    given = {"data": str(DATA), "model": tiny_model_path, "memory_budget": 3.5, "train_offset_weight": 0.25,
             "validation": "own", "epochs": 2}
    config = TrainConfig.from_options(given)
    assert (config.memory_budget_gb, config.offset_weight, config.validation, config.epochs) == (3.5, 0.25, ["own"], 2)
    with pytest.raises(OptionError, match="checkpoint_every"):
        TrainConfig.from_options({**given, "checkpoint_every": 5})
