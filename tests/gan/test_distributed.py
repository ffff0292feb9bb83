"""Data-parallel GAN training on 2 CPU processes (gloo), as `torchrun --nproc_per_node=2` runs it.

Each spawned process gets the torchrun environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_*),
calls the same `train` the CLI calls, and reports its final weights and the warnings it saw;
the test checks that both ranks hold identical generators and critics, that DDP never warned
"Grad strides do not match bucket view strides" (channels-last weights with a size-1 dimension,
whose gradients different kernels return in different strides), and that DDP's gradient of
the WGAN-GP critic loss (double backward through the DDP module) equals the all-reduced mean
of the per-rank gradients computed without DDP.
"""

from __future__ import annotations

import json
import os
import socket
import warnings

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from advlab.gan.config import GANTrainConfig
from advlab.gan.state import read_gan_checkpoint
from advlab.models.checkpoint import unprefixed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str, cfg_json: dict) -> None:
    torch.set_num_threads(1)  # two processes on a 2-core machine
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    from safetensors.torch import save_file

    from advlab.gan.trainer import train

    cfg = GANTrainConfig.from_json(cfg_json)
    dist.init_process_group("gloo", rank=rank, world_size=world)  # train() reuses it
    try:
        _check_penalty_gradients_match_manual_all_reduce(rank, world)
        finals: dict[str, torch.Tensor] = {}

        def keep(step, parts):
            if step == cfg.iters:
                # contiguous copies: the trainer keeps conv weights channels-last
                for name in ("G", "D"):
                    finals.update({f"{name}.{k}": v.clone(memory_format=torch.contiguous_format)
                                   for k, v in parts[name].state_dict().items()})

        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            train(cfg, out, on_step=keep, tensorboard=False)
        save_file(finals, os.path.join(out, f"rank{rank}.safetensors"))
        with open(os.path.join(out, f"warnings{rank}.json"), "w") as f:
            json.dump([str(w.message) for w in seen], f)
    finally:
        dist.destroy_process_group()


def _check_penalty_gradients_match_manual_all_reduce(rank: int, world: int) -> None:
    from torch.nn.parallel import DistributedDataParallel

    from advlab.gan.penalties import gradient_penalty
    from advlab.models.gan import build_gan

    torch.manual_seed(0)
    _, critic = build_gan("dcgan", image_size=28, channels=1, width=8, batchnorm_in_critic=False)
    plain = build_gan("dcgan", image_size=28, channels=1, width=8, batchnorm_in_critic=False)[1]
    plain.load_state_dict(critic.state_dict())
    wrapped = DistributedDataParallel(critic)
    g = torch.Generator().manual_seed(rank)  # each rank its own data
    real, fake = torch.rand(6, 1, 28, 28, generator=g) * 2 - 1, torch.rand(6, 1, 28, 28) * 2 - 1
    for module in (wrapped, plain):
        eps = torch.Generator().manual_seed(10 + rank)
        loss = module(fake).mean() - module(real).mean() + gradient_penalty(module, real, fake,
                                                                            generator=eps)
        loss.backward()
    manual = torch.cat([p.grad.flatten() for p in plain.parameters()])
    dist.all_reduce(manual)
    ddp_grad = torch.cat([p.grad.flatten() for p in critic.parameters()])
    assert torch.allclose(ddp_grad, manual / world, atol=1e-6), "DDP penalty gradient differs"


CONFIGS = {
    "wgan-gp-dcgan": GANTrainConfig(loss="wgan-gp", arch="dcgan", width=8, batch_size=16,
                                    data_limit=64, n_critic=2, iters=3, sample_every=0,
                                    checkpoint_every=0, device="cpu"),
    # a growing pair uses only some layers at each step (DDP must find the unused ones); it
    # fades from 16 to 32 px during these steps
    "progressive-fade": GANTrainConfig(
        loss="wgan-gp-drift", arch="progressive", image_pad=2, latent_dim=16, width=4,
        batch_size=16, data_limit=64, iters=4, sample_every=0, checkpoint_every=0,
        device="cpu").with_options(initial_resolution=16, stable_images=16, fade_images=32),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_two_cpu_processes_train_identical_models(tmp_path, name):
    cfg = CONFIGS[name]
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path), cfg.to_json()), nprocs=2)

    from safetensors.torch import load_file

    for rank in (0, 1):
        seen = json.loads((tmp_path / f"warnings{rank}.json").read_text())
        assert not [w for w in seen if "strides" in w], seen
    rank0 = load_file(str(tmp_path / "rank0.safetensors"))
    rank1 = load_file(str(tmp_path / "rank1.safetensors"))
    assert set(rank0) == set(rank1) and any(k.startswith("G.") for k in rank0)
    for key in rank0:
        if "running_" in key or "num_batches" in key:
            continue  # BN statistics are per-rank (each sees its own shard), not synchronised
        # the same computation on both ranks: all-reduced (identical) gradients, the same
        # optimiser step on the same weights, so the replicas agree bit for bit
        assert torch.equal(rank0[key], rank1[key]), key
    # rank 0 wrote the checkpoint, with the trained weights
    tensors, meta = read_gan_checkpoint(tmp_path)
    assert meta["step"] == cfg.iters
    g_saved = unprefixed("G", tensors)
    assert all(torch.equal(g_saved[k], rank0[f"G.{k}"]) for k in g_saved)  # the same tensors, saved twice
    # and the weights moved from their initialisation
    from advlab.gan.state import build_networks

    g_init, _ = build_networks(cfg, (1, 28 + 2 * cfg.image_pad, 28 + 2 * cfg.image_pad))
    assert not all(torch.equal(v, g_saved[k]) for k, v in g_init.state_dict().items())
