"""`advlab gan train`'s options become a config through `advlab.commands.gan.train_config`
(the one option grammar of `advlab.options`)."""

from __future__ import annotations

import pytest

from advlab.commands.gan import memorisation_command, train_command, train_config
from advlab.gan.losses import GOODFELLOW_RULE, OBJECTIVES


def test_options_set_config_and_learning_rule_fields():
    cfg = train_config(["--n-critic", "2", "--lr", "0.05", "--rule-betas", "0.1,0.2",
                        "--max_norm", "none", "--ema-decay=0.999"], {"loss": "minimax", "arch": "mlp"})
    assert (cfg.loss, cfg.arch, cfg.n_critic, cfg.ema_decay) == ("minimax", "mlp", 2, 0.999)
    assert cfg.learning_rule() == GOODFELLOW_RULE.override(lr=0.05, betas=(0.1, 0.2), max_norm=None)
    # typed values pass as they are; without rule options the objective's paper rule is used
    assert train_config([], {"loss": "wgan-gp", "width": 8}).learning_rule() == OBJECTIVES["wgan-gp"].rule
    # the progressive networks' growth schedule and switches: full or bare part names
    pg = train_config(["--image-pad", "2", "--growth-stable-images", "64", "--fade_images", "32",
                       "--batch-sizes", "16,16,8", "--no-pixel-norm", "--progressive-mbstd-group", "0"],
                      {"arch": "progressive", "loss": "wgan-gp-drift"})
    assert (pg.growth.stable_images, pg.growth.fade_images, pg.growth.batch_sizes) == (64, 32, (16, 16, 8))
    assert not pg.progressive.pixel_norm and pg.progressive.mbstd_group == 0 and pg.image_pad == 2
    assert pg.learning_rule() == OBJECTIVES["wgan-gp-drift"].rule
    with pytest.raises(ValueError, match="growing architecture"):
        train_config(["--stable-images", "64"], {"arch": "dcgan"})
    with pytest.raises(ValueError, match=r"gan train has no option --lrr; its options: .*--rule-lr\b"):
        train_config(["--lrr", "1"])
    with pytest.raises(ValueError, match="--rule-lr expects float"):
        train_config(["--lr", "fast"])


def test_resume_starts_from_the_saved_config(tmp_path):
    first = train_config(["--data-limit", "64", "--sample-every", "0", "--lr", "0.001",
                          "--latent-prior", "uniform"],
                         {"loss": "nonsaturating", "arch": "mlp", "width": 4, "batch_size": 32,
                          "iters": 2, "device": "cpu"})
    train_command(first, tmp_path)
    resumed = train_config([], {"iters": 3}, resume_from=tmp_path)
    assert resumed == first.replace(iters=3)  # the saved rule, width, ... and the new length
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train_config([], resume_from=tmp_path / "nothing")


def test_memorisation_command_on_a_run(tmp_path):
    run = tmp_path / "run"
    cfg = train_config(["--data-limit", "100", "--sample-every", "0"],
                       {"loss": "nonsaturating", "width": 4, "batch_size": 16, "iters": 1,
                        "device": "cpu"})
    train_command(cfg, run)
    table = memorisation_command(run, tmp_path / "check", features="pixels", n=20, k=2, shown=3)
    assert [row[0] for row in table.rows][0] == "generated samples"
    for name in ("memorisation_figure10.png", "memorisation_distances.png", "result.json"):
        assert (tmp_path / "check" / name).is_file()
