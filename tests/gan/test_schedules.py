"""Goodfellow et al.'s learning rule (goodfeli/adversarial mnist.yaml): pylearn2's
ExponentialDecay and MomentumAdjustor against their closed forms, the objective defaults, the
config resolution, and the trainer setting them on its optimisers."""

from __future__ import annotations

import math

import pytest
import torch

from advlab.gan.config import GANTrainConfig
from advlab.gan.losses import OBJECTIVES
from advlab.gan.schedules import (
    apply_learning_rule_,
    exponential_decay_lr,
    learning_rule_at,
    linear_momentum,
)
from advlab.gan.state import read_gan_checkpoint
from advlab.gan.trainer import train


@pytest.fixture
def one_thread():
    """Tiny networks: one intra-op thread is fastest (and avoids OpenMP spin on shared cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_exponential_decay_is_pylearn2s_per_update_division():
    # mnist.yaml: ExponentialDecay(decay_factor=1.000004, min_lr=1e-6) on lr 0.1
    assert exponential_decay_lr(0.1, 0, 1.000004, 1e-6) == 0.1  # the first update: lr_0
    assert exponential_decay_lr(0.1, 1, 1.000004, 1e-6) == 0.1 / 1.000004
    halved = round(math.log(2) / math.log(1.000004))  # ~173,287 updates
    assert exponential_decay_lr(0.1, halved, 1.000004, 1e-6) == pytest.approx(0.05, rel=1e-5)
    assert exponential_decay_lr(0.1, 10**7, 1.000004, 1e-6) == 1e-6  # floor at min_lr
    assert exponential_decay_lr(0.1, 10**9, 1.0, 0.0) == 0.1  # factor 1: constant
    with pytest.raises(ValueError, match="decay_factor"):
        exponential_decay_lr(0.1, 1, 0.99, 0.0)
    with pytest.raises(ValueError, match="updates"):
        exponential_decay_lr(0.1, -1, 1.1, 0.0)


def test_linear_momentum_is_pylearn2s_momentum_adjustor():
    # MomentumAdjustor(start=1, saturate=250, final_momentum=0.7) on init_momentum 0.5; its
    # counter is 1 during the first epoch (it runs once before training)
    def goodfellow(epochs_done: int) -> float:
        return linear_momentum(epochs_done, 0.5, 0.7, 1, 250)

    assert goodfellow(0) == 0.5
    assert goodfellow(1) == pytest.approx(0.5 + 0.2 / 249)
    assert goodfellow(124) == pytest.approx(0.5 + 0.2 * 124 / 249)
    assert goodfellow(249) == pytest.approx(0.7) and goodfellow(10_000) == pytest.approx(0.7)
    assert all(goodfellow(e) <= goodfellow(e + 1) for e in range(300))  # monotone ramp
    # saturate == start jumps from initial to final when the counter reaches start
    assert [linear_momentum(e, 0.5, 0.9, 3, 3) for e in range(4)] == [0.5, 0.5, 0.9, 0.9]
    with pytest.raises(ValueError, match="saturate"):
        linear_momentum(0, 0.5, 0.7, 5, 4)


def test_minimax_defaults_are_the_authors_rule_with_halved_discriminator_lr():
    minimax = OBJECTIVES["minimax"]
    assert (minimax.optimizer, minimax.lr, minimax.momentum, minimax.batch_size) == (
        "sgd", 0.1, 0.5, 100)
    assert (minimax.final_momentum, minimax.momentum_start, minimax.momentum_saturate) == (
        0.7, 1, 250)
    assert (minimax.lr_decay, minimax.min_lr, minimax.max_norm) == (1.000004, 1e-6, None)
    # pylearn2's D cost is 0.5 * (BCE real + BCE fake): half ours, so D gets half the lr
    assert minimax.player_lr("G") == 0.1 and minimax.player_lr("D") == 0.05
    assert learning_rule_at(minimax, "D", 0, 0) == (0.05, 0.5)
    lr, momentum = learning_rule_at(minimax, "G", 10, 249)
    assert lr == pytest.approx(0.1 / 1.000004**10) and momentum == pytest.approx(0.7)
    sgd = minimax.make_optimizer([torch.nn.Parameter(torch.zeros(2))], "D")
    assert sgd.param_groups[0]["lr"] == 0.05
    for name in ("nonsaturating", "lsgan", "wgan", "wgan-gp"):  # Adam/RMSProp papers: constant
        assert not OBJECTIVES[name].has_schedule and OBJECTIVES[name].d_lr_scale == 1.0


def test_apply_learning_rule_sets_param_groups_and_leaves_constant_rules_alone():
    params = [torch.nn.Parameter(torch.zeros(2))]
    objective = OBJECTIVES["minimax"].with_overrides(lr_decay=2.0, min_lr=0.0)
    opt = objective.make_optimizer(params, "G")
    apply_learning_rule_(opt, objective, "G", 3, 249)
    assert opt.param_groups[0]["lr"] == 0.1 / 8 and opt.param_groups[0]["momentum"] == 0.7
    adam = OBJECTIVES["wgan-gp"].make_optimizer(params)
    adam.param_groups[0]["lr"] = 123.0
    apply_learning_rule_(adam, OBJECTIVES["wgan-gp"], "G", 3, 249)
    assert adam.param_groups[0]["lr"] == 123.0  # no schedule: untouched


def test_config_resolves_the_schedule_with_the_optimizer():
    assert GANTrainConfig(loss="minimax").objective().has_schedule
    # another optimiser drops the paper's SGD schedule and D lr scale (Adam is scale-invariant)
    adam = GANTrainConfig(loss="minimax", optimizer="adam", lr=2e-4).objective()
    assert not adam.has_schedule and adam.d_lr_scale == 1.0
    # an explicit momentum is constant unless a final momentum is given too
    constant = GANTrainConfig(loss="minimax", momentum=0.9).objective()
    assert constant.final_momentum is None and constant.lr_decay == 1.000004
    ramp = GANTrainConfig(loss="nonsaturating", optimizer="sgd", lr=0.1, momentum=0.5,
                          final_momentum=0.7, lr_decay=1.000004, d_lr_scale=0.5,
                          max_norm=1.9365).objective()
    assert (ramp.final_momentum, ramp.lr_decay, ramp.d_lr_scale, ramp.max_norm) == (
        0.7, 1.000004, 0.5, 1.9365)
    assert GANTrainConfig(loss="minimax", max_norm=0.0).objective().max_norm is None  # 0 = off
    with pytest.raises(ValueError, match="needs optimizer 'sgd'"):
        GANTrainConfig(loss="wgan-gp", final_momentum=0.7)
    with pytest.raises(ValueError, match="lr_decay"):
        GANTrainConfig(loss="minimax", lr_decay=0.5)
    with pytest.raises(ValueError, match="max_norm"):
        GANTrainConfig(loss="minimax", max_norm=-1.0)
    with pytest.raises(ValueError, match="d_lr_scale"):
        GANTrainConfig(loss="minimax", d_lr_scale=0.0)
    with pytest.raises(ValueError, match="momentum_start <= momentum_saturate"):
        GANTrainConfig(loss="minimax", momentum_start=5, momentum_saturate=2)
    with pytest.raises(ValueError, match="player"):
        OBJECTIVES["minimax"].player_lr("X")  # type: ignore[arg-type]


def test_trainer_sets_each_players_scheduled_lr_and_momentum(tmp_path, one_thread):
    # 96 images / 32 = 3 batches per epoch; k = 2 so D sees 8 batches (epochs 0-2) in 4 steps
    cfg = GANTrainConfig(loss="minimax", arch="mlp", width=8, batch_size=32, data_limit=96,
                         iters=4, n_critic=2, lr_decay=2.0, min_lr=0.0, final_momentum=0.9,
                         momentum_saturate=3, latent_prior="uniform", sample_every=0,
                         checkpoint_every=0, seed=0, device="cpu")
    train(cfg, tmp_path, tensorboard=False)
    _, meta = read_gan_checkpoint(tmp_path)
    g_group, d_group = meta["opt_g"]["param_groups"][0], meta["opt_d"]["param_groups"][0]
    # the values set before the last update of each player
    assert g_group["lr"] == 0.1 / 2**3  # G's 4th update
    assert d_group["lr"] == 0.05 / 2**7  # D's 8th update (batch 7), half of G's base lr
    # D's last batch (7) is in epoch 2: pylearn2 counter 3 = saturate -> final momentum;
    # G's update follows the same batch
    assert d_group["momentum"] == pytest.approx(0.9) and g_group["momentum"] == pytest.approx(0.9)
