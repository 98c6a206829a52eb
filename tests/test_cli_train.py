"""relbert-train as a user types it: options, run folders, one-line mistakes."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli_checks import no_model_load, one_error_line
from relbert.cli import embed


def test_a_second_training_run_into_the_same_folder_is_refused(tmp_path, tiny_model_path):
    import json

    from relbert.cli import train

    data = tmp_path / "rel.jsonl"
    data.write_text("".join(json.dumps({"relation_type": f"r/{k}", "positives": [[f"a{k}", f"b{k}"], [f"c{k}", f"d{k}"]]})
                            + "\n" for k in range(3)))
    args = ["-o", str(tmp_path / "run"), "--data", str(data), "--model", tiny_model_path, "-t", "a", "--epochs", "1",
            "--validation", "", "--num-negative", "2", "--precision", "fp32", "-q"]
    assert CliRunner().invoke(train, args).exit_code == 0
    line = one_error_line(CliRunner().invoke(train, args))
    assert "holds a training run already" in line and "--resume" in line and "--overwrite" in line
    assert CliRunner().invoke(train, args + ["--overwrite"]).exit_code == 0
    missing = one_error_line(CliRunner().invoke(train, ["-o", str(tmp_path / "other"), "--data", str(tmp_path / "no.jsonl")]))
    assert "no.jsonl: no such file" in missing
