"""The GAN trainer: a short run learns, files are written, faults stop the run cleanly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from advlab.commands.gan import interpolate_command, sample_command
from advlab.gan.config import GANTrainConfig, check_resumable
from advlab.gan.distributed import DistEnv
from advlab.gan.records import COLUMNS, read_metrics
from advlab.gan.sampling import interpolation_latents, sample_latent, slerp
from advlab.gan.state import (
    TrainingDiverged,
    build_networks,
    load_generator,
    read_gan_checkpoint,
    save_training_state,
)
from advlab.gan.steps import ema_update_
from advlab.gan.trainer import BatchStream, CollapseDetector, DiscriminatorCollapsed, train
from advlab.models.checkpoint import unprefixed


def tiny(**changes) -> GANTrainConfig:
    """A few-second config: 8-filter DCGAN on 256 MNIST digits."""
    base = dict(loss="nonsaturating", arch="dcgan", width=8, batch_size=32, data_limit=256,
                iters=4, sample_every=0, checkpoint_every=2, seed=0, device="cpu")
    base.update(changes)
    return GANTrainConfig(**base)


def test_short_run_lowers_discriminator_loss_and_writes_run_files(tmp_path):
    cfg = tiny(iters=30, sample_every=15, checkpoint_every=15)
    result = train(cfg, tmp_path, tensorboard=False)
    rows = read_metrics(tmp_path)
    assert [int(r["step"]) for r in rows] == list(range(1, 31))
    assert list(rows[0]) == COLUMNS
    d = [r["d_loss"] for r in rows]
    # D starts near chance, log 4 = 1.386 (D(x) = 1/2 everywhere), and learns to separate
    assert abs(d[0] - math.log(4)) < 0.5
    assert sum(d[-5:]) / 5 < sum(d[:3]) / 3 - 0.2
    assert (tmp_path / "samples" / "step_000015.png").is_file()
    assert (tmp_path / "samples" / "step_000030.png").is_file()
    _, meta = read_gan_checkpoint(tmp_path)
    assert meta["step"] == 30 and result.step == 30
    G, saved_cfg = load_generator(tmp_path)
    assert saved_cfg == cfg
    x = G(torch.randn(3, cfg.latent_dim))
    assert x.shape == (3, 1, 28, 28) and x.abs().max() <= 1
    # the sample / interpolate commands read the same checkpoint
    grid = np.asarray(Image.open(sample_command(tmp_path, 16, tmp_path / "grid.png", seed=1)))
    assert grid.shape[:2] == (2 + 4 * 30, 2 + 4 * 30)  # 4x4 images of 28 px, 2 px padding
    walk = np.asarray(Image.open(interpolate_command(tmp_path, tmp_path / "walk.png", steps=5,
                                                     rows=2)))
    assert walk.shape[:2] == (2 + 2 * 30, 2 + 5 * 30)
    assert not np.array_equal(walk[2:30, 2:30], walk[2:30, -30:-2])  # the walk moves


def test_wasserstein_objectives_clip_or_penalise(tmp_path):
    train(tiny(loss="wgan", iters=2), tmp_path / "wgan", tensorboard=False)
    tensors, _ = read_gan_checkpoint(tmp_path / "wgan")
    critic = unprefixed("D", tensors)
    weights = [v for k, v in critic.items() if v.is_floating_point() and "running" not in k]
    assert max(float(w.abs().max()) for w in weights) <= 0.01 + 1e-7  # WGAN Algorithm 1 line 7

    train(tiny(loss="wgan-gp", iters=2), tmp_path / "gp", tensorboard=False)
    rows = read_metrics(tmp_path / "gp")
    assert all(r["gradient_penalty"] > 0 for r in rows)
    assert all(r["wasserstein"] == pytest.approx(r["d_real"] - r["d_fake"], abs=1e-5)
               for r in rows)
    assert read_metrics(tmp_path / "wgan")[0]["gradient_penalty"] == 0.0  # no penalty term: logged as 0


def test_nan_stops_training_and_keeps_last_good_checkpoint(tmp_path):
    def poison(step, parts):
        if step == 3:  # after the checkpoint of step 2: corrupt G's weights
            with torch.no_grad():
                next(parts["G"].parameters()).fill_(float("nan"))

    with pytest.raises(TrainingDiverged, match="non-finite loss at generator step 4"):
        train(tiny(iters=6), tmp_path, on_step=poison, tensorboard=False)
    tensors, meta = read_gan_checkpoint(tmp_path)
    assert meta["step"] == 2
    assert all(bool(torch.isfinite(t).all()) for t in tensors.values() if t.is_floating_point())


def test_checkpoint_writer_refuses_non_finite_weights(tmp_path):
    cfg = tiny()
    G, D = build_networks(cfg, (1, 28, 28))
    rule = cfg.learning_rule()
    opt_g, opt_d = rule.make_optimizer(G.parameters()), rule.make_optimizer(D.parameters())
    with torch.no_grad():
        next(D.parameters())[0] = float("inf")
    from advlab.gan.state import RunProgress

    with pytest.raises(TrainingDiverged, match="NaN/inf"):
        save_training_state(tmp_path / "c.safetensors", cfg, (1, 28, 28), G, D, None, opt_g,
                            opt_d, RunProgress())
    assert not (tmp_path / "c.safetensors").exists()


def test_collapse_detector_needs_consecutive_saturated_steps():
    detector = CollapseDetector("nonsaturating", patience=3)
    detector.update(1, 1e-4, -12.0)
    detector.update(2, 1e-4, -12.0)
    detector.update(3, 0.5, -1.0)  # one informative step resets the count
    detector.update(4, 1e-4, -12.0)
    detector.update(5, 1e-4, -12.0)
    with pytest.raises(DiscriminatorCollapsed, match="step 6"):
        detector.update(6, 1e-4, -12.0)
    wgan = CollapseDetector("wgan-gp", patience=1)
    wgan.update(1, -100.0, -50.0)  # critic losses are unbounded: never judged collapsed
    resumed = CollapseDetector("nonsaturating", patience=3, run=2)  # a checkpointed streak
    with pytest.raises(DiscriminatorCollapsed, match="step 9: .* for 3 consecutive"):
        resumed.update(9, 1e-4, -12.0)


def test_batch_stream_covers_each_epoch_and_resumes_from_a_position():
    images = torch.arange(20.0).view(20, 1, 1, 1)
    stream = BatchStream(images, seed=3, env=DistEnv())
    epoch = torch.cat([stream.next(5).flatten() for _ in range(4)])
    assert sorted(epoch.tolist()) == list(range(20))
    assert stream.epoch_of_next(5) == 1
    later = [stream.next(5) for _ in range(3)]
    # the fixed-batch formula (older checkpoints kept only the batch count) gives the same
    again = BatchStream.at_batch(images, 5, seed=3, env=DistEnv(), position=4)
    assert all(torch.equal(a, again.next(5)) for a in later)
    # batch sizes may change (a minibatch per resolution); a short remainder is dropped
    varying = BatchStream(images, seed=3, env=DistEnv())
    first = [varying.next(8).flatten() for _ in range(2)]  # 16 of epoch 0; 4 dropped
    assert varying.epoch_of_next(8) == 1 and varying.next(8) is not None and varying.epoch == 1
    assert len(set(torch.cat(first).tolist())) == 16
    resumed = BatchStream(images, seed=3, env=DistEnv(), position=varying.position,
                          epoch=varying.epoch, offset=varying.offset)
    assert torch.equal(resumed.next(4), varying.next(4))
    # two ranks split each global batch into disjoint halves
    r0 = BatchStream(images, seed=3, env=DistEnv(0, 2)).next(10).flatten()
    r1 = BatchStream(images, seed=3, env=DistEnv(1, 2)).next(10).flatten()
    full = BatchStream(images, seed=3, env=DistEnv()).next(10).flatten()
    assert torch.equal(torch.cat([r0, r1]), full)
    with pytest.raises(ValueError, match="divisible"):
        BatchStream(images, seed=3, env=DistEnv(0, 2)).next(5)
    with pytest.raises(ValueError, match="fewer than one batch"):
        BatchStream(images, seed=3, env=DistEnv()).next(21)


def test_ema_update_is_the_exponential_average():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    before = a.weight.detach().clone()
    ema_update_(a, b, 0.9)
    assert torch.allclose(a.weight, 0.9 * before + 0.1 * b.weight)


def test_latent_priors_and_interpolation():
    g = torch.Generator().manual_seed(0)
    z = sample_latent(1000, 4, "uniform", g)
    assert z.min() >= -1 and z.max() <= 1 and z.min() < -0.9
    assert abs(float(sample_latent(4000, 4, "normal", g).std()) - 1) < 0.05
    z0, z1 = torch.randn(3, 8), torch.randn(3, 8)
    path = slerp(z0, z1, torch.tensor([0.0, 0.5, 1.0]))  # (3, 3, 8)
    assert torch.allclose(path[:, 0], z0, atol=1e-5) and torch.allclose(path[:, 2], z1, atol=1e-5)
    # for equal-norm endpoints slerp stays on the sphere (linear interpolation does not)
    u0, u1 = z0 / z0.norm(dim=1, keepdim=True), z1 / z1.norm(dim=1, keepdim=True)
    assert torch.allclose(slerp(u0, u1, torch.tensor([0.5])).norm(dim=-1), torch.ones(3, 1))
    assert interpolation_latents(2, 5, 8, "normal", "linear", 0).shape == (10, 8)
    with pytest.raises(ValueError, match="valid: slerp, linear"):
        interpolation_latents(2, 5, 8, "normal", "cubic", 0)


def test_config_overrides_objective_defaults_and_guards_resume():
    cfg = GANTrainConfig(loss="wgan-gp", n_critic=2).with_options(optimizer="rmsprop", lr=5e-5)
    obj = cfg.objective()
    assert (obj.rule.optimizer, obj.rule.lr, obj.n_critic, obj.gp_weight) == ("rmsprop", 5e-5, 2, 10.0)
    assert GANTrainConfig(loss="minimax").objective().rule.optimizer == "sgd"
    with pytest.raises(ValueError, match="valid"):
        GANTrainConfig(loss="hinge")
    check_resumable(cfg, cfg.replace(iters=5000, eval_every=100))
    with pytest.raises(ValueError, match="rule"):
        check_resumable(cfg, cfg.with_options(lr=1e-3))


def test_ema_generator_keeps_batch_norm_statistics_of_its_own_weights(tmp_path):
    """The EMA generator of a BN generator is scored and saved with running statistics of the
    averaged weights' activations, not of the live generator's (which gave an EMA FID of 225
    against 55 for the raw generator): in eval mode it computes what it computes on a large
    batch in training mode."""
    cfg = tiny(iters=12, ema_decay=0.999, checkpoint_every=0).with_options(lr=5e-3)
    train(cfg, tmp_path, tensorboard=False)
    G_ema, _ = load_generator(tmp_path)  # the EMA copy, eval mode
    z = sample_latent(2048, cfg.latent_dim, cfg.latent_prior, torch.Generator().manual_seed(5))
    with torch.no_grad():
        eval_mode = G_ema(z)
        batch_mode = G_ema.train()(z)  # batch statistics of these 2,048 latents
    G_live, _ = load_generator(tmp_path, use_ema=False)
    moved = max((a - b).abs().max().item() for a, b in zip(
        G_ema.parameters(), G_live.parameters(), strict=True))
    assert moved > 0.05  # the live weights have left the average behind
    assert (eval_mode - batch_mode).abs().mean() < 0.01
