"""``relbert-info``: what a bug report needs about this machine: the CPU and its flags, the cores
and threads, the versions of the runtimes, and the precisions ``auto`` chose here (measured)."""
from __future__ import annotations

import click

from .common import Command

#: CPU flags that matter to the speed of fp32, bf16 and int8 matrix products.
RELEVANT_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile",
                  "avx_vnni")
#: Distributions whose versions are reported.
PACKAGES = ("relbert-toolkit", "torch", "transformers", "tokenizers", "numpy", "safetensors", "onnxruntime",
            "huggingface-hub", "kernels", "triton", "faiss-cpu")


def report() -> list:
    """The lines ``relbert-info`` prints."""
    import importlib.metadata
    import json
    import os
    import platform
    import sys

    import torch

    from ..runtime import measured_precision as mp
    from ..runtime.precision import cpu_flags

    flags = cpu_flags()
    lines = [f"cpu: {mp.cpu_model_name()} ({platform.machine()})",
             f"flags: {' '.join(f for f in RELEVANT_FLAGS if f in flags) or '(none of ' + ', '.join(RELEVANT_FLAGS) + ')'}",
             f"cores: {os.cpu_count()} on the machine, {mp.usable_cores()} this process may use; torch threads "
             f"{torch.get_num_threads()}",
             f"python: {sys.version.split()[0]} ({platform.platform()})"]
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    lines.append("versions: " + ", ".join(versions))
    lines.append(f"cuda: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none visible'}")
    path = mp.cache_file()
    entries = mp.read_cache(path)
    lines.append(f"auto precision, measured ({path}): {len(entries) or 'none yet'}")
    machine = mp.machine_key()
    for key, entry in sorted(entries.items()):
        try:
            k = json.loads(key)
            here = all(k.get(f) == v for f, v in machine.items())
            rates = ", ".join(f"{p} {r:,.0f} pairs/s" for p, r in sorted(entry["rates"].items(), key=lambda kv: -kv[1]))
            lines.append(f"  {k['model']}: {entry['precision']} ({rates}; {entry['date']}"
                         f"{'' if here else '; another CPU, cores or torch'})")
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return lines


@click.command(cls=Command)
def info():
    """Print the CPU, its flags, the cores and threads, the runtime versions and the precisions
    `auto` measured on this machine: what to paste into a bug report."""
    for line in report():
        click.echo(line)


if __name__ == "__main__":
    info()
