"""`--resume` continues an interrupted GAN run bit-for-bit (exact tensor equality)."""

from __future__ import annotations

import pytest
import torch

from advlab.gan import trainer
from advlab.gan.config import GANTrainConfig
from advlab.gan.growth import phase_at
from advlab.gan.records import read_metrics
from advlab.gan.state import RunProgress, load_training_state, read_gan_checkpoint
from advlab.gan.trainer import CollapseDetector, DiscriminatorCollapsed, train
from advlab.models.checkpoint import save_state


class Interrupted(Exception):
    pass


def interrupt_at(stop: int):
    def hook(step, parts):
        if step == stop:
            raise Interrupted(step)

    return hook


@pytest.mark.parametrize(
    "changes",
    [
        # WGAN-GP (Adam moments, penalty eps stream, 2 critic steps) with an EMA generator
        dict(loss="wgan-gp", arch="dcgan", n_critic=2, ema_decay=0.9),
        # minimax + SGD momentum on the MLP, whose maxout D uses dropout (global RNG state)
        dict(loss="minimax", arch="mlp", latent_prior="uniform"),
        # Goodfellow's learning rule made steep enough to matter within 6 steps: the lr halves
        # every update, the momentum ramps over D's epochs (k = 2: 12 batches, 4 epochs), and
        # the max-norm constraint is active on G and D from the first step
        dict(loss="minimax", arch="mlp", latent_prior="uniform", n_critic=2, lr_decay=2.0,
             min_lr=0.0, final_momentum=0.9, momentum_saturate=3, max_norm=0.05),
        # progressive growing 16 -> 32 px, 16 images a step: stable for steps 1-3, the fade
        # (and the optimisers' reset) from step 4, interrupted after step 4, mid-fade
        dict(loss="wgan-gp-drift", arch="progressive", image_pad=2, latent_dim=16, width=4,
             ema_decay=0.9, initial_resolution=16, stable_images=32, fade_images=128,
             batch_sizes=(32, 32, 16, 16)),
    ],
    ids=["wgan-gp-ema", "minimax-mlp-dropout", "goodfellow-schedule-max-norm", "progressive-mid-fade"],
)
def test_interrupted_then_resumed_run_equals_uninterrupted_run(tmp_path, changes):
    cfg = GANTrainConfig(width=8, batch_size=32, data_limit=96, iters=6, checkpoint_every=2,
                         sample_every=0, seed=1, device="cpu").with_options(**changes)
    # 96 images / 32 = 3 batches per epoch, so the runs cross epoch boundaries
    train(cfg, tmp_path / "full", tensorboard=False)

    with pytest.raises(Interrupted):  # killed during step 5, after the checkpoint of step 4
        train(cfg, tmp_path / "cut", on_step=interrupt_at(5), tensorboard=False)
    saved = read_gan_checkpoint(tmp_path / "cut")[1]
    assert saved["step"] == 4
    if cfg.growth_schedule() is not None:
        phase = phase_at(cfg.growth_schedule(), saved["images_seen"], 32)
        assert phase.fading and 0 < phase.alpha < 1 and saved["growth_stage"] == phase.stage
    result = train(cfg, tmp_path / "cut", resume=True, tensorboard=False)
    assert result.resumed_from == 4 and result.step == 6

    full, meta_full = read_gan_checkpoint(tmp_path / "full")
    cut, meta_cut = read_gan_checkpoint(tmp_path / "cut")
    assert set(full) == set(cut)
    for key in full:  # G, D, EMA, both optimisers, RNG: all identical
        assert torch.equal(full[key], cut[key]), key
    assert meta_full["batches_seen"] == meta_cut["batches_seen"]
    for opt in ("opt_g", "opt_d"):  # lr and momentum set by the schedules: identical too
        assert meta_full[opt]["param_groups"] == meta_cut[opt]["param_groups"]
    rows_full, rows_cut = read_metrics(tmp_path / "full"), read_metrics(tmp_path / "cut")
    assert [r["step"] for r in rows_cut] == [1, 2, 3, 4, 5, 6]  # no duplicate of step 5
    # resume continues bit for bit: the same computation, so exact equality is the promise
    assert [r["d_loss"] for r in rows_cut] == [r["d_loss"] for r in rows_full]


def test_resume_extends_a_finished_run_and_refuses_a_different_config(tmp_path):
    cfg = GANTrainConfig(loss="nonsaturating", width=8, batch_size=32, data_limit=64, iters=2,
                         sample_every=0, device="cpu")
    train(cfg, tmp_path, tensorboard=False)
    # the stream position comes from the batch count, as it did: the resumed step 3 equals an
    # uninterrupted run's
    result = train(cfg.replace(iters=3), tmp_path, resume=True, tensorboard=False)
    assert (result.resumed_from, result.step) == (2, 3)
    train(cfg.replace(iters=3), tmp_path / "full", tensorboard=False)
    resumed, full = read_gan_checkpoint(tmp_path)[0], read_gan_checkpoint(tmp_path / "full")[0]
    assert all(torch.equal(resumed[k], full[k]) for k in full)
    with pytest.raises(ValueError, match="cannot resume.*loss"):
        train(cfg.replace(loss="lsgan", iters=4), tmp_path, resume=True, tensorboard=False)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(cfg, tmp_path / "empty", resume=True, tensorboard=False)


class AlwaysCollapsed(CollapseDetector):
    """Judges every step collapsed (threshold = inf), so runs stop after `patience` steps."""

    def __init__(self, loss: str, patience: int, threshold: float = 1e-3, run: int = 0) -> None:
        super().__init__(loss, patience, threshold=float("inf"), run=run)


def test_resumed_run_keeps_the_collapse_streak_and_stops_at_the_same_step(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer, "CollapseDetector", AlwaysCollapsed)
    cfg = GANTrainConfig(loss="nonsaturating", arch="mlp", width=8, batch_size=32, data_limit=64,
                         iters=20, collapse_patience=5, checkpoint_every=2, sample_every=0,
                         latent_prior="uniform", seed=0, device="cpu")
    with pytest.raises(DiscriminatorCollapsed, match="at step 5: .* for 5 consecutive"):
        train(cfg, tmp_path / "full", tensorboard=False)

    with pytest.raises(Interrupted):  # mid-streak: 3 collapsed steps, 2 of them checkpointed
        train(cfg, tmp_path / "cut", on_step=interrupt_at(3), tensorboard=False)
    assert read_gan_checkpoint(tmp_path / "cut")[1]["collapse_run"] == 2
    # a detector that forgot the streak would count 1, 2, ... again and stop at step 7
    with pytest.raises(DiscriminatorCollapsed, match="at step 5: .* for 5 consecutive"):
        train(cfg, tmp_path / "cut", resume=True, tensorboard=False)


NEWER_FIELDS = ("collapse_run", "images_seen", "data_epoch", "data_offset", "growth_stage",
                "divergence_scales")


def test_checkpoint_without_newer_fields_loads_with_starting_values(tmp_path):
    cfg = GANTrainConfig(loss="nonsaturating", arch="mlp", width=8, batch_size=32, data_limit=64,
                         iters=2, sample_every=0, latent_prior="uniform", device="cpu")
    train(cfg, tmp_path, tensorboard=False)
    tensors, meta = read_gan_checkpoint(tmp_path)
    old = {k: v for k, v in meta.items() if k not in (*NEWER_FIELDS, "format_version", "sha256")}
    save_state(tmp_path / "checkpoint.safetensors", tensors, old)  # as written before them

    from advlab.gan.state import build_networks

    G, D = build_networks(cfg, (1, 28, 28))
    rule = cfg.learning_rule()
    progress = load_training_state(tmp_path / "checkpoint.safetensors", G, D, None,
                                   rule.make_optimizer(G.parameters(), "G"),
                                   rule.make_optimizer(D.parameters(), "D"))
    assert progress == RunProgress(step=2, batches_seen=2, wall_seconds=meta["wall_seconds"])
    # the stream position comes from the batch count, as it did: the resumed step 3 equals an
    # uninterrupted run's
    result = train(cfg.replace(iters=3), tmp_path, resume=True, tensorboard=False)
    assert (result.resumed_from, result.step) == (2, 3)
    train(cfg.replace(iters=3), tmp_path / "full", tensorboard=False)
    resumed, full = read_gan_checkpoint(tmp_path)[0], read_gan_checkpoint(tmp_path / "full")[0]
    assert all(torch.equal(resumed[k], full[k]) for k in full)
