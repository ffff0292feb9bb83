"""Data-parallel GAN training across processes (torchrun), with DistributedDataParallel.

Launch: ``torchrun --nproc_per_node=N -m advlab gan train ...``. torchrun sets RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; `init_from_env` joins the process group
(NCCL when the run is on CUDA, gloo on CPU) when WORLD_SIZE > 1.

How the GAN maps onto DDP (checked in tests/gan/test_distributed.py):
- G and D are each wrapped in DDP, so every optimiser step applies the gradient averaged over
  ranks; both start from the same seed and DDP broadcasts rank 0's weights at wrap time, so
  every rank holds identical weights throughout.
- The WGAN-GP penalty needs a double backward (torch.autograd.grad with create_graph=True
  through D, Gulrajani et al. 2017, Algorithm 1 line 7). DDP supports it here because the
  input-gradient call never reaches the parameters' gradient accumulators (so DDP's reducer
  hooks fire only once, in the final backward of the critic loss, which includes the
  penalty's second-order term). Three forwards (real, fake, interpolates) then one backward
  is fine with static parameter usage. The test compares DDP's gradients with a manual
  all-reduce of single-process gradients on 2 gloo ranks.
- The generator step runs D *unwrapped* with its parameters frozen (requires_grad False):
  no useless D weight-gradients and no all-reduce for them; G's DDP wrapper averages G's
  gradients.
- Gradients live in DDP's buckets (gradient_as_bucket_view=True, gradients created before
  wrapping and zeroed in place, `zero_grad_`): the convolution weights are channels-last, and
  a weight with a size-1 dimension (the (width, 1, 4, 4) first layer of a critic on grey
  images) has strides that the two layouts leave ambiguous; different kernels (the plain and
  the double backward of the penalty) return its gradient in different ones, and DDP warned
  "Grad strides do not match bucket view strides" and copied. Accumulated into the bucket
  view, every gradient has the parameter's strides whatever the kernel.
- Each rank reads its shard of every global batch (see `advlab.gan.trainer.BatchStream`),
  draws its own noise (seeded by rank and step), and the logged losses are all-reduced, so
  every rank takes the same stop decisions. Rank 0 alone writes files.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

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
        """Rank 0: the process that writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """More than one process."""
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """"auto" -> cuda:<local_rank> when CUDA is available else cpu; "cuda" -> cuda:<local_rank>."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        return torch.device("cuda", local_rank)
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available; use cpu or auto")
    return device


def init_from_env(device_name: str) -> tuple[DistEnv, torch.device]:
    """Join the torchrun process group when WORLD_SIZE > 1; otherwise a single-process env.

    Returns (env, device). A group that already exists (a caller initialised it) is reused and
    left alone at the end; one created here is destroyed by `shutdown`.
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
    env = DistEnv(dist.get_rank(), dist.get_world_size(), local_rank, owns)
    return env, device


def shutdown(env: DistEnv) -> None:
    """Leave the process group if `init_from_env` created it."""
    if env.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def wrap(module: nn.Module, env: DistEnv, device: torch.device,
         find_unused_parameters: bool = False) -> nn.Module:
    """DDP-wrap `module` in a multi-process run; the module itself otherwise.

    The gradients are DDP's bucket views from the start (module docstring): zero gradients
    are created before wrapping, so DDP points them into its buckets at construction, and
    `zero_grad_` keeps them there. find_unused_parameters: for networks that use only some of
    their layers in a step (a growing network)."""
    if not env.distributed:
        return module
    for parameter in module.parameters():
        if parameter.requires_grad and parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)  # same strides as the parameter
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, gradient_as_bucket_view=True,
                                   find_unused_parameters=find_unused_parameters)


def zero_grad_(optimizer: torch.optim.Optimizer, module: nn.Module) -> None:
    """Clear the gradients of `module`'s optimiser before a backward pass: in place for a DDP
    module (its gradients are views of DDP's buckets, `wrap`), to None otherwise."""
    optimizer.zero_grad(set_to_none=not isinstance(module, DistributedDataParallel))


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module inside a DDP wrapper (or the module itself)."""
    return module.module if isinstance(module, DistributedDataParallel) else module


def mean_across_ranks(values: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """All-reduce a small tensor of statistics to its mean over ranks (no-op single-process)."""
    if not env.distributed:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / env.world_size


def barrier(env: DistEnv) -> None:
    """Wait for every rank (no-op single-process)."""
    if env.distributed:
        dist.barrier()

