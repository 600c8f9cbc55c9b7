"""One training run on several processes: torchrun's environment -> a process group, and the few
collective operations the training loop needs. Without torchrun (WORLD_SIZE unset or 1) every
function is a no-op on one process, so `sideman train` runs unchanged on one CPU.

Backend: NCCL when CUDA is available (one GPU per local rank), gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 alone logs, evaluates and saves."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def start() -> Ranks:
    """Join the process group torchrun describes in the environment; a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    import torch
    import torch.distributed as dist

    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if backend == "nccl":
        torch.cuda.set_device(local)
    return Ranks(dist.get_rank(), dist.get_world_size(), local)


def device(ranks: Ranks) -> Any:
    import torch

    if ranks.distributed and torch.cuda.is_available():
        return torch.device("cuda", ranks.local)
    return torch.device("cpu")


def wrap(model: Any, ranks: Ranks) -> Any:
    """The module the optimizer steps: DistributedDataParallel on several ranks, the model itself on one."""
    if not ranks.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    dev = device(ranks)
    return DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)


def all_sum(values: Sequence[float], ranks: Ranks) -> list[float]:
    """Element-wise sum over ranks (float64)."""
    if not ranks.distributed:
        return [float(v) for v in values]
    import torch
    import torch.distributed as dist

    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device(ranks))
    dist.all_reduce(t)
    return t.cpu().tolist()


def from_main(value: float, ranks: Ranks) -> float:
    """Rank 0's value on every rank (the decisions only rank 0 can take: stop, best so far)."""
    if not ranks.distributed:
        return float(value)
    import torch
    import torch.distributed as dist

    t = torch.tensor([float(value)], dtype=torch.float64, device=device(ranks))
    dist.broadcast(t, src=0)
    return float(t.item())


def barrier(ranks: Ranks) -> None:
    if ranks.distributed:
        import torch.distributed as dist

        dist.barrier()


def stop(ranks: Ranks) -> None:
    if ranks.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
