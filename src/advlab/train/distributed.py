"""Processes launched by ``torchrun``: joining the group, and sharded evaluation.

``torchrun --nproc_per_node=N -m advlab attack|certify|reproduce ...`` starts N processes;
`init_from_env` joins them into one process group (NCCL on CUDA, gloo on CPU). Evaluation
work is cut into fixed chunks of samples, chunk i goes to rank i mod N (`my_chunks`), every
chunk draws its random numbers from a generator seeded by its own index (`chunk_generator`),
and `gather_chunks` reassembles the chunks in order on every rank. The result is therefore
the single-process result, bit for bit on the same kernels, for any number of processes.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from advlab.devices import resolve_device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits: rank in [0, world_size), whether it created the group."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """More than one process."""
        return self.world_size > 1


def current_env() -> DistEnv:
    """The process group this process already belongs to (single-process when none)."""
    if dist.is_available() and dist.is_initialized():
        return DistEnv(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return DistEnv()


def init_from_env(device_name: str) -> tuple[DistEnv, torch.device]:
    """Join the torchrun process group when WORLD_SIZE > 1; otherwise a single-process env.

    Returns (env, device). A group that already exists is reused and left alone at the end;
    one created here is destroyed by `shutdown`.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 and not (dist.is_available() and dist.is_initialized()):
        return DistEnv(), resolve_device(device_name)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    owns = False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
        owns = True
        log.info("joined process group: backend %s, rank %d of %d", backend, dist.get_rank(), world)
    return DistEnv(dist.get_rank(), dist.get_world_size(), local_rank, owns), device


def shutdown(env: DistEnv) -> None:
    """Leave the process group if `init_from_env` created it."""
    if env.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    """Wait for every rank (no-op single-process)."""
    if env.distributed:
        dist.barrier()


def sum_across_ranks(values: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """All-reduce a small tensor (counts) to its sum over ranks (no-op single-process)."""
    if not env.distributed:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def chunk_slices(n: int, chunk: int) -> list[slice]:
    """The fixed chunks [0, chunk), [chunk, 2 chunk), ... of n samples."""
    return [slice(start, min(start + chunk, n)) for start in range(0, n, chunk)]


def my_chunks(count: int, env: DistEnv) -> list[int]:
    """Indices of the chunks this rank evaluates: i with i mod world_size == rank."""
    return list(range(env.rank, count, env.world_size))


def chunk_generator(seed: int, index: int, device: torch.device | str = "cpu") -> torch.Generator:
    """The generator of chunk `index`: seeded by (seed, index) only, so a chunk draws the same
    numbers whichever rank evaluates it."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + index)


def gather_chunks(parts: dict[int, torch.Tensor], count: int, env: DistEnv) -> torch.Tensor:
    """Concatenate the per-chunk tensors of every rank in chunk order, on every rank.

    parts: chunk index -> (rows, *F) tensor for this rank's chunks (`my_chunks`); all chunks
    share the trailing shape F and dtype. Single-process: the local chunks in order.
    """
    if not env.distributed:
        return torch.cat([parts[i] for i in range(count)])
    local = torch.cat([parts[i] for i in my_chunks(count, env)])  # (rows_r, *F)
    rows = torch.tensor([local.shape[0]], device=local.device)
    all_rows = [torch.zeros_like(rows) for _ in range(env.world_size)]
    dist.all_gather(all_rows, rows)
    longest = int(max(int(r) for r in all_rows))
    padded = torch.zeros((longest, *local.shape[1:]), dtype=local.dtype, device=local.device)
    padded[: local.shape[0]] = local
    gathered = [torch.zeros_like(padded) for _ in range(env.world_size)]
    dist.all_gather(gathered, padded)
    # split each rank's rows back into its chunks (rank r holds chunks r, r + W, ... in order)
    sizes = [parts[i].shape[0] for i in my_chunks(count, env)]
    all_sizes = _chunk_sizes_of_every_rank(sizes, count, env, local.device)
    by_chunk: dict[int, torch.Tensor] = {}
    for rank, block in enumerate(gathered):
        offset = 0
        for index, size in zip(my_chunks(count, DistEnv(rank, env.world_size)), all_sizes[rank], strict=True):
            by_chunk[index] = block[offset : offset + size]
            offset += size
    return torch.cat([by_chunk[i] for i in range(count)])


def _chunk_sizes_of_every_rank(sizes: list[int], count: int, env: DistEnv,
                               device: torch.device) -> list[list[int]]:  # fmt: skip
    """Every rank's list of chunk sizes (exchanged, since the last chunk may be short);
    on `device` because NCCL gathers CUDA tensors only."""
    longest = -(-count // env.world_size)
    mine = torch.full((longest,), -1, dtype=torch.long, device=device)
    mine[: len(sizes)] = torch.tensor(sizes, dtype=torch.long, device=device)
    everyone = [torch.zeros_like(mine) for _ in range(env.world_size)]
    dist.all_gather(everyone, mine)
    return [[int(s) for s in t if int(s) >= 0] for t in everyone]
