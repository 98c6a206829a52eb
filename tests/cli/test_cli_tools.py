"""The maintainer tools (python -m relbert.cli.tools_command): the same one-line errors as every
command, and distill-pairs writes exactly the pairs the builder keeps."""
from __future__ import annotations

import json

from click.testing import CliRunner

from helpers.cli_checks import one_error_line
from relbert.cli import tools


def test_mistakes_are_one_line_with_exit_status_2(tmp_path):
    missing = tmp_path / "no-checkpoint"
    line = one_error_line(CliRunner().invoke(tools, ["make-delta", str(missing), "--out", str(tmp_path / "d")]))
    assert line == f"error: {missing}: no such checkpoint folder"
    line = one_error_line(CliRunner().invoke(tools, ["make-delta", str(tmp_path), "--info", "[1]"]))
    assert line == "error: --info: not a JSON object"
    line = one_error_line(CliRunner().invoke(tools, ["average-checkpoints", str(tmp_path), "-o", str(tmp_path / "a")]))
    assert line == "error: averaging needs at least two checkpoint folders"
    line = one_error_line(CliRunner().invoke(tools, ["distill-pairs", "-o", str(tmp_path / "no" / "p.tsv")]))
    assert "the output folder" in line and not (tmp_path / "no").exists()
    assert not (tmp_path / "d").exists() and not (tmp_path / "a").exists()


def test_distill_pairs_writes_the_builders_pairs_and_report(fixture_data, tmp_path):
    from relbert.data.distill_pairs import build

    out = tmp_path / "pairs.tsv"
    result = CliRunner().invoke(tools, ["distill-pairs", "-o", str(out), "--recombined", "20", "--seed", "1",
                                        "--data-dir", str(fixture_data)])
    assert result.exit_code == 0, result.output
    kept, report = build(fixture_data, 20, 1)
    assert kept and out.read_text(encoding="utf-8") == "".join(f"{h}\t{t}\n" for h, t in kept)
    assert json.loads(result.output) == report
    quiet = CliRunner().invoke(tools, ["distill-pairs", "-o", str(tmp_path / "q.tsv"), "--data-dir", str(fixture_data),
                                       "-q"])
    assert quiet.exit_code == 0 and quiet.output == ""
