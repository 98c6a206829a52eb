"""torchrun support: join the process group when launched by torchrun, one GPU per local rank."""
from __future__ import annotations

import os
from typing import Optional, Tuple

import torch


def active():
    """``torch.distributed`` when a process group is running, else None."""
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def init() -> Tuple[int, int]:
    """(rank, world size): joins the group under torchrun (nccl on GPU, gloo on CPU), else (0, 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_device().index)
        dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


def local_device() -> Optional[torch.device]:
    """This rank's GPU under torchrun, or None (then the caller's default applies)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and torch.cuda.is_available():
        return torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}")
    return None


def barrier() -> None:
    dist = active()
    if dist is not None:
        dist.barrier()


def rank0_decides(flag: bool) -> bool:
    """Rank 0's ``flag`` on every rank (each rank takes the same decision); ``flag`` itself alone."""
    dist = active()
    if dist is None:
        return flag
    value = torch.tensor([1.0 if flag else 0.0])
    dist.broadcast(value, 0)
    return bool(value.item())
