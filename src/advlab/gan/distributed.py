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

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

# the process-group plumbing is shared with sharded attacks and certification
from advlab.train.distributed import DistEnv, barrier, init_from_env, resolve_device, shutdown

__all__ = ["DistEnv", "barrier", "init_from_env", "mean_across_ranks", "resolve_device", "shutdown",
           "unwrap", "wrap", "zero_grad_"]


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
