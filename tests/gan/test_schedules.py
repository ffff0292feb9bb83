"""Goodfellow et al.'s learning rule (goodfeli/adversarial mnist.yaml): pylearn2's
ExponentialDecay and MomentumAdjustor against their closed forms, the one `LearningRule` value
(objective defaults, config resolution, gan-algorithm1), and the trainer setting it on its
optimisers."""

from __future__ import annotations

import math

import pytest
import torch

from advlab.gan.config import GANTrainConfig
from advlab.gan.learning_rule import LearningRule
from advlab.gan.losses import GOODFELLOW_RULE, OBJECTIVES
from advlab.gan.schedules import exponential_decay_lr, linear_momentum
from advlab.gan.state import read_gan_checkpoint
from advlab.gan.trainer import train


def test_exponential_decay_is_pylearn2s_per_update_division():
    # mnist.yaml: ExponentialDecay(decay_factor=1.000004, min_lr=1e-6) on lr 0.1
    assert exponential_decay_lr(0.1, 0, 1.000004, 1e-6) == 0.1  # the first update: lr_0
    # lr_0 / factor**1 vs lr_0 / factor: the same value computed two ways, so up to a few ulps
    assert exponential_decay_lr(0.1, 1, 1.000004, 1e-6) == pytest.approx(0.1 / 1.000004, rel=1e-12, abs=0)
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
    minimax = OBJECTIVES["minimax"].rule
    assert minimax is GOODFELLOW_RULE and OBJECTIVES["minimax"].batch_size == 100
    assert (minimax.optimizer, minimax.lr, minimax.momentum) == ("sgd", 0.1, 0.5)
    assert (minimax.final_momentum, minimax.momentum_start, minimax.momentum_saturate) == (
        0.7, 1, 250)
    # mnist.yaml's decay; the max-norm of the authors' TFD configuration (mnist.yaml has none
    # and diverges without it, see test_trainer.py's divergence test)
    assert (minimax.lr_decay, minimax.min_lr, minimax.max_norm) == (1.000004, 1e-6, 1.9365)
    # pylearn2's D cost is 0.5 * (BCE real + BCE fake): half ours, so D gets half the lr
    assert minimax.player_lr("G") == 0.1 and minimax.player_lr("D") == 0.05
    assert minimax.at("D", 0, 0) == (0.05, 0.5)
    lr, momentum = minimax.at("G", 10, 249)
    assert lr == pytest.approx(0.1 / 1.000004**10) and momentum == pytest.approx(0.7)
    sgd = minimax.make_optimizer([torch.nn.Parameter(torch.zeros(2))], "D")
    assert sgd.param_groups[0]["lr"] == 0.05
    for name in ("nonsaturating", "lsgan", "wgan", "wgan-gp", "wgan-gp-drift"):  # constant
        rule = OBJECTIVES[name].rule
        assert not rule.has_schedule and rule.d_lr_scale == 1.0 and rule.max_norm is None


def test_apply_sets_param_groups_and_leaves_constant_rules_alone():
    params = [torch.nn.Parameter(torch.zeros(2))]
    rule = GOODFELLOW_RULE.override(lr_decay=2.0, min_lr=0.0)
    opt = rule.make_optimizer(params, "G")
    rule.apply_(opt, "G", 3, 249)
    assert opt.param_groups[0]["lr"] == 0.1 / 8 and opt.param_groups[0]["momentum"] == 0.7
    constant = OBJECTIVES["wgan-gp"].rule
    adam = constant.make_optimizer(params)
    adam.param_groups[0]["lr"] = 123.0
    constant.apply_(adam, "G", 3, 249)
    assert adam.param_groups[0]["lr"] == 123.0  # no schedule: untouched


def test_config_resolves_the_rule_with_the_optimizer():
    assert GANTrainConfig(loss="minimax").learning_rule().has_schedule
    # another optimiser drops the paper's SGD schedule and D lr scale (Adam is scale-invariant)
    adam = GANTrainConfig(loss="minimax").with_options(optimizer="adam", lr=2e-4).learning_rule()
    assert not adam.has_schedule and adam.d_lr_scale == 1.0 and adam.lr == 2e-4
    # an explicit momentum is constant unless a final momentum is given too
    constant = GANTrainConfig(loss="minimax").with_options(momentum=0.9).learning_rule()
    assert constant.final_momentum is None and constant.lr_decay == 1.000004
    ramp = GANTrainConfig(loss="nonsaturating").with_options(
        optimizer="sgd", lr=0.1, momentum=0.5, final_momentum=0.7, lr_decay=1.000004,
        d_lr_scale=0.5, max_norm=1.9365).learning_rule()
    assert (ramp.final_momentum, ramp.lr_decay, ramp.d_lr_scale, ramp.max_norm) == (
        0.7, 1.000004, 0.5, 1.9365)
    off = GANTrainConfig(loss="minimax").with_options(max_norm=0.0).learning_rule()
    assert off.max_norm is None  # 0 = off, as on the command line
    # a new loss without rule options takes that objective's rule
    switched = GANTrainConfig(loss="minimax").with_options(lr=0.05).with_options(loss="wgan-gp")
    assert switched.learning_rule() == OBJECTIVES["wgan-gp"].rule
    # a momentum ramp means nothing to Adam
    assert not GANTrainConfig(loss="wgan-gp").with_options(final_momentum=0.7).learning_rule().has_schedule
    with pytest.raises(ValueError, match="lr_decay"):
        GANTrainConfig(loss="minimax").with_options(lr_decay=0.5)
    with pytest.raises(ValueError, match="max_norm"):
        LearningRule(max_norm=-1.0)
    with pytest.raises(ValueError, match="d_lr_scale"):
        GANTrainConfig(loss="minimax").with_options(d_lr_scale=0.0)
    with pytest.raises(ValueError, match="momentum_start <= momentum_saturate"):
        GANTrainConfig(loss="minimax").with_options(momentum_start=5, momentum_saturate=2)
    with pytest.raises(ValueError, match="player"):
        GOODFELLOW_RULE.player_lr("X")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown GAN option\(s\) lrr; valid: .*lr"):
        GANTrainConfig().with_options(lrr=1.0)


def test_rule_round_trips_and_reads_configs_written_before_it_existed():
    cfg = GANTrainConfig(loss="minimax").with_options(lr=0.05, betas=(0.1, 0.2))
    assert GANTrainConfig.from_json(cfg.to_json()) == cfg
    # a checkpoint's config of the flat-field era: minimax with an explicit momentum, and
    # defaults that had no max-norm
    old = {k: v for k, v in GANTrainConfig(loss="minimax").to_json().items() if k != "rule"}
    old.update(optimizer=None, lr=None, betas=None, momentum=0.9, max_norm=None,
               d_lr_scale=None, lr_decay=None, min_lr=None, final_momentum=None,
               momentum_start=None, momentum_saturate=None)
    rule = GANTrainConfig.from_json(old).learning_rule()
    assert rule == GOODFELLOW_RULE.override(momentum=0.9, max_norm=None)
    assert rule.final_momentum is None and rule.lr_decay == 1.000004


def test_trainer_sets_each_players_scheduled_lr_and_momentum(tmp_path):
    # 96 images / 32 = 3 batches per epoch; k = 2 so D sees 8 batches (epochs 0-2) in 4 steps
    cfg = GANTrainConfig(loss="minimax", arch="mlp", width=8, batch_size=32, data_limit=96,
                         iters=4, n_critic=2, latent_prior="uniform", sample_every=0,
                         checkpoint_every=0, seed=0, device="cpu").with_options(
        lr_decay=2.0, min_lr=0.0, final_momentum=0.9, momentum_saturate=3)
    train(cfg, tmp_path, tensorboard=False)
    _, meta = read_gan_checkpoint(tmp_path)
    g_group, d_group = meta["opt_g"]["param_groups"][0], meta["opt_d"]["param_groups"][0]
    # the values set before the last update of each player
    assert g_group["lr"] == 0.1 / 2**3  # G's 4th update
    assert d_group["lr"] == 0.05 / 2**7  # D's 8th update (batch 7), half of G's base lr
    # D's last batch (7) is in epoch 2: pylearn2 counter 3 = saturate -> final momentum;
    # G's update follows the same batch
    assert d_group["momentum"] == pytest.approx(0.9) and g_group["momentum"] == pytest.approx(0.9)
