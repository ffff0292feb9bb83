"""The `advlab` command as a user types it (in-process, small data)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from advlab.cli import app, main

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["advlab", *args])
    with pytest.raises(SystemExit) as info:
        main()
    return int(info.value.code or 0), capsys.readouterr().err


def test_data_list_and_show(tmp_path: Path) -> None:
    out = invoke("data", "list")
    assert "mnist-5k" in out and "embedded" in out and "cifar10" in out
    invoke("data", "show", "mnist-5k", "--out", str(tmp_path / "grid.png"), "--n", "12")
    assert (tmp_path / "grid.png").stat().st_size > 5000


def test_train_eval_resume_flow(tmp_path: Path) -> None:
    run = tmp_path / "run"
    out = invoke("train", "classifier", "--model", "wong-small", "--data", "digits", "--epochs", "2",
                 "--lr", "0.05", "--out", str(run))  # fmt: skip
    assert "test acc" in out and (run / "checkpoint.safetensors").exists()
    out = invoke("train", "classifier", "--model", "wong-small", "--data", "digits", "--epochs", "3",
                 "--lr", "0.05", "--out", str(run), "--resume")  # fmt: skip
    assert len((run / "metrics.csv").read_text().splitlines()) == 4
    out = invoke("eval", "--checkpoint", str(run), "--data", "digits")
    assert "Per-class accuracy" in out and "Overall" in out


def test_reproduce_with_overrides_and_report(tmp_path: Path) -> None:
    out = invoke("reproduce", "classifier-baselines", "--out", str(tmp_path / "res"),
                 "--cache-dir", str(tmp_path / "cache"), "--rows", "fc500-150-10@digits", "--epochs=2")  # fmt: skip
    assert "report:" in out
    config = json.loads((tmp_path / "res" / "classifier-baselines" / "config.json").read_text())
    assert config["config"]["rows"] == ["fc500-150-10@digits"] and config["config"]["training"]["epochs"] == 2
    assert (tmp_path / "res" / "report.html").exists()
    invoke("report", str(tmp_path / "res"), "--out", str(tmp_path / "r.html"))
    assert "classifier-baselines" in (tmp_path / "r.html").read_text()
    assert "classifier-baselines" in invoke("list")
    assert "wong-small" in invoke("list", "--models")


def test_bad_input_gets_one_clear_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    code, err = run_main(monkeypatch, capsys, "data", "show", "mnist5k")
    assert code == 2 and "valid names" in err and "Traceback" not in err
    code, err = run_main(monkeypatch, capsys, "eval", "--checkpoint", str(tmp_path / "none"))
    assert code == 2 and "no checkpoint" in err
    code, err = run_main(monkeypatch, capsys, "reproduce", "nope")
    assert code == 2 and "classifier-baselines" in err
    code, err = run_main(monkeypatch, capsys, "reproduce", "classifier-baselines", "--out", str(tmp_path), "--epoch", "3")
    assert code == 2 and "valid fields" in err
    code, err = run_main(monkeypatch, capsys, "train", "classifier", "--optimizer", "lbfgs", "--out", str(tmp_path / "x"))
    assert code == 2 and "sgd, adam" in err


def _untrained_checkpoint(folder: Path) -> Path:
    """A seeded, untrained fc500-150-10 for digits saved as a checkpoint (attacks need no accuracy)."""
    import torch

    from advlab import models
    from advlab.experiments.cache import model_args_for

    args = model_args_for("fc500-150-10", "digits")
    torch.manual_seed(0)
    net = models.create("fc500-150-10", **args)
    return models.save_checkpoint(folder / "checkpoint.safetensors", net, {"model": "fc500-150-10", "model_args": args})


@pytest.mark.parametrize("name,options,expected", [
    ("deepfool", ["--candidates", "3", "--steps", "10", "--overshoot", "0.05"], {"candidates": 3, "steps": 10, "overshoot": 0.05}),
    ("lbfgs", ["--c-init", "0.5", "--search-steps", "2", "--max-iter", "3"], {"c_init": 0.5, "search_steps": 2, "max_iter": 3}),
    ("pgd", ["--eps", "0.1", "--steps", "3", "--no-random-start", "--restarts", "2"], {"random_start": False, "restarts": 2}),
    ("fgsm", ["--eps", "0.1", "--use-predicted-labels"], {"use_predicted_labels": True, "targeted": False}),
    ("pgd", ["--eps=0.05", "--norm", "l2", "--targeted", "--bounds", "0,1"], {"targeted": True, "norm": "l2", "bounds": [0.0, 1.0]}),
])  # fmt: skip
def test_attack_hyperparameters_reach_the_attack(tmp_path: Path, name: str, options: list[str], expected: dict) -> None:
    checkpoint = _untrained_checkpoint(tmp_path)
    out = tmp_path / "out"
    invoke("attack", name, "--checkpoint", str(checkpoint), "--data", "digits", "--n", "12", "--out", str(out), *options)
    params = json.loads((out / "result.json").read_text())["params"]
    assert {k: params[k] for k in expected} == expected


def test_attack_bad_hyperparameters_get_one_clear_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    missing = str(tmp_path / "none")  # checked before the checkpoint is read
    code, err = run_main(monkeypatch, capsys, "attack", "deepfool", "--checkpoint", missing, "--candidates", "1")
    assert code == 2 and "candidates must be an integer >= 2" in err and len(err.strip().splitlines()) == 1
    code, err = run_main(monkeypatch, capsys, "attack", "lbfgs", "--checkpoint", missing, "--candidates", "3")
    assert code == 2 and "attack lbfgs has no option --candidates" in err and "--search-steps" in err
    code, err = run_main(monkeypatch, capsys, "attack", "pgd", "--checkpoint", missing, "--eps", "0.1", "--norm", "l1")
    assert code == 2 and "norm must be one of" in err
    code, err = run_main(monkeypatch, capsys, "attack", "deepfool", "--checkpoint", missing, "--targeted")
    assert code == 2 and "attack deepfool has no option --targeted" in err
    code, err = run_main(monkeypatch, capsys, "attack", "fgsm", "--checkpoint", missing, "--eps", "0.1", "--targeted", "--use-predicted-labels")
    assert code == 2 and "use_predicted_labels applies to untargeted FGSM only" in err


def test_usage_errors_and_divergence_exit_cleanly(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    """An unknown option is a usage error (exit 2, click's message); a diverging run stops with
    one line and exit 3, keeping what it had written."""
    code, err = run_main(monkeypatch, capsys, "data", "list", "--bogus")
    assert code == 2 and "--bogus" in err
    code, err = run_main(monkeypatch, capsys, "train", "classifier", "--model", "fc500-150-10",
                         "--data", "digits", "--epochs", "2", "--lr", "1e12", "--out", str(tmp_path / "nan"))
    assert code == 3 and "training stopped" in err and "loss is" in err


def test_gan_train_resume_sample_interpolate(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    """`advlab gan train --out DIR --iters N --resume` continues with the run's saved settings;
    a setting that would change the trajectory is refused; sample/interpolate write PNGs."""
    run = tmp_path / "gan"
    invoke("gan", "train", "--loss", "wgan-gp", "--arch", "dcgan", "--width", "4", "--batch-size", "16",
           "--iters", "2", "--n-critic", "1", "--data-limit", "64", "--out", str(run))  # fmt: skip
    out = invoke("gan", "train", "--out", str(run), "--iters", "3", "--resume")
    assert "resumed from step" in out and "dcgan" in out
    saved = json.loads((run / "config.json").read_text())
    assert saved["width"] == 4 and saved["iters"] == 3 and saved["n_critic"] == 1
    code, err = run_main(monkeypatch, capsys, "gan", "train", "--out", str(run), "--iters", "4",
                         "--width", "8", "--resume")
    assert code == 2 and "width: saved 4 vs requested 8" in " ".join(err.split())  # rich wraps lines
    invoke("gan", "sample", "--checkpoint", str(run), "--n", "16", "--out", str(tmp_path / "grid.png"))
    invoke("gan", "interpolate", "--checkpoint", str(run), "--out", str(tmp_path / "walk.png"))
    assert (tmp_path / "grid.png").stat().st_size > 500 and (tmp_path / "walk.png").stat().st_size > 500


def test_gan_train_progressive_with_growth_options_and_memorisation(tmp_path: Path) -> None:
    """`advlab gan train --arch progressive` takes the growth schedule's options by flat name,
    resumes mid-fade, and `advlab gan memorisation` checks the run."""
    run = tmp_path / "pgan"
    invoke("gan", "train", "--loss", "wgan-gp-drift", "--arch", "progressive", "--image-pad", "2",
           "--latent-dim", "16", "--width", "4", "--data-limit", "64", "--iters", "3", "--sample-every", "0",
           "--initial-resolution", "16", "--stable-images", "32", "--fade-images", "32", "--batch-sizes", "16",
           "--no-pixel-norm", "--out", str(run), "--device", "cpu")  # fmt: skip
    saved = json.loads((run / "config.json").read_text())
    assert saved["growth"]["fade_images"] == 32 and saved["progressive"]["pixel_norm"] is False
    out = invoke("gan", "train", "--out", str(run), "--iters", "4", "--resume")
    assert "resumed from step" in out
    result = runner.invoke(app, ["gan", "train", "--fade-imagez", "3", "--out", str(tmp_path / "x")])
    assert result.exit_code != 0 and "--fade-images" in str(result.exception)  # the valid names
    check = tmp_path / "check"
    out = invoke("gan", "memorisation", "--checkpoint", str(run), "--features", "pixels", "--samples", "16",
                 "--k", "2", "--shown", "2", "--out", str(check))  # fmt: skip
    assert "generated samples" in out and (check / "memorisation_figure10.png").is_file()


def test_importing_the_cli_imports_no_torch() -> None:
    """`advlab --help`, `list`, `data list` and reproduce's usage errors (unknown experiment or
    scale) answer at once: the CLI module and the registries load without torch (each command
    imports what it needs when it runs)."""
    import subprocess

    code = ("import sys, advlab.cli, advlab.data, advlab.experiments; "
            "from advlab.commands.data import dataset_table; dataset_table(None); "
            "from advlab.commands.experiments import experiment_table; experiment_table(); "
            "from advlab.commands.experiments import validate\n"
            "refused = 0\n"
            "for scale in ('huge', 'quick'):\n"
            "    try: validate(['classifier-baselines' if scale == 'huge' else 'deepfool'], scale, {})\n"
            "    except (ValueError, LookupError): refused += 1\n"
            "print(refused, 'torch' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2 False", out.stderr


def test_tables_fit_80_columns_without_cutting_cells() -> None:
    from rich.console import Console

    from advlab import cli
    from advlab.tables import Table

    wide = Table("wong-table", ["problem", "robust", "eps", "test error % (ours)", "test error % (paper)",
                                "fgsm error % (ours)", "fgsm error % (paper)", "pgd error % (ours)",
                                "pgd error % (paper)", "robust error bound % (ours)", "robust error bound % (paper)"],
                 [["mnist-5k", "no", 0.1, 4.5, 1.07, 71.0, 50.01, 80.5, 81.68, 100.0, 100.0],
                  ["mnist-5k", "yes", 0.1, 12.0, 1.8, 30.0, 3.93, 30.5, 4.11, 39.5, 5.82]])  # fmt: skip
    many = Table("many rows", [f"column {i}" for i in range(12)], [[float(i * j) + 0.123 for i in range(12)] for j in range(20)])
    for table in (wide, many):
        console = Console(width=80, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
        old, cli.console = cli.console, console
        try:
            cli.show(table)
        finally:
            cli.console = old
        text = console.export_text()
        assert "…" not in text
        assert max(len(line) for line in text.splitlines()) <= 80
        for value in ("81.68", "robust", "5.82") if table is wide else ("2.123", "209.1"):
            assert value in text


def test_user_mistakes_get_one_line_not_a_traceback(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    checkpoint = _untrained_checkpoint(tmp_path)  # fc500-150-10 for 8x8 digits
    code, err = run_main(monkeypatch, capsys, "eval", "--checkpoint", str(checkpoint), "--data", "mnist-5k")
    assert code == 2 and "does not take mnist-5k images of shape 1x28x28" in " ".join(err.split())
    code, err = run_main(monkeypatch, capsys, "train", "classifier", "--model", "lenet", "--data", "digits",
                         "--out", str(tmp_path / "lenet"))  # fmt: skip
    assert code == 2 and "model 'lenet' cannot be built for 8x8 images" in " ".join(err.split())
    code, err = run_main(monkeypatch, capsys, "report", str(tmp_path))
    assert code == 2 and "no experiment results" in err
    code, err = run_main(monkeypatch, capsys, "attack", "pgd", "--checkpoint", str(checkpoint))
    assert code == 2 and "attack pgd needs --eps" in err
    code, err = run_main(monkeypatch, capsys, "attack", "pgd", "--checkpoint", str(checkpoint), "--eps", "x")
    assert code == 2 and "--eps expects float, got 'x'" in err
    for n in ("-5", "0"):
        code, err = run_main(monkeypatch, capsys, "attack", "fgsm", "--checkpoint", str(checkpoint), "--n", n)
        assert code == 2 and "'--samples' / '--n'" in err and "greater than or equal to 1" in err
    assert "Traceback" not in err


def test_reproduce_validates_before_printing_anything(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "argv", ["advlab", "reproduce", "classifier-baselines", "--scale", "huge",
                                      "--out", str(tmp_path)])  # fmt: skip
    with pytest.raises(SystemExit) as info:
        main()
    captured = capsys.readouterr()
    assert info.value.code == 2 and "demo, quick, paper" in captured.err
    assert captured.out == ""  # no header rule before the error


def test_default_output_folders_never_overwrite(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    checkpoint = _untrained_checkpoint(tmp_path)
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        invoke("attack", "fgsm", "--checkpoint", str(checkpoint), "--data", "digits", "--n", "8", "--eps", "0.1")
    assert (tmp_path / "runs/attack/fgsm/result.json").exists()
    assert (tmp_path / "runs/attack/fgsm-2/result.json").exists()
    code, err = run_main(monkeypatch, capsys, "attack", "fgsm", "--checkpoint", str(checkpoint), "--data", "digits",
                         "--n", "8", "--eps", "0.1", "--out", "runs/attack/fgsm")  # fmt: skip
    assert code == 2 and "--force" in err
    invoke("attack", "fgsm", "--checkpoint", str(checkpoint), "--data", "digits", "--n", "8", "--eps", "0.1",
           "--out", "runs/attack/fgsm", "--force")  # fmt: skip


def test_train_behind_a_front_end_with_an_l1_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "sparse"
    out = invoke("train", "classifier", "--model", "fc500-150-10", "--data", "digits", "--epochs", "1",
                 "--lr", "0.05", "--front-end", "dct:0.25", "--l1-budget", "8", "--out", str(run))  # fmt: skip
    assert "Theorem 2 bound" in out
    from advlab.commands.sparsity import _classifier
    from advlab.models import load_checkpoint, read_checkpoint

    meta = read_checkpoint(run / "checkpoint.safetensors").meta
    assert meta["model"] == "sparsified" and meta["front_end"] == "dct:0.25"
    assert meta["l1_budget"] == [8.0] * 3
    inner = _classifier(load_checkpoint(run))  # the budget holds for the trained weights
    assert all(float(m.weight.detach().abs().sum(1).max()) <= 8.0 * (1 + 1e-5)
               for m in inner.modules() if isinstance(m, __import__("torch").nn.Linear))
    assert "Overall" in invoke("eval", "--checkpoint", str(run), "--data", "digits")
    code, err = run_main(monkeypatch, capsys, "train", "classifier", "--model", "fc500-150-10", "--data", "digits",
                         "--front-end", "nobasis:0.1", "--out", str(tmp_path / "bad"))  # fmt: skip
    assert code == 2 and "dct" in err


def test_attack_universal_and_ensemble(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture) -> None:
    first = _untrained_checkpoint(tmp_path / "a")
    import torch

    from advlab import models
    from advlab.experiments.cache import model_args_for

    args = model_args_for("mlp-shallow", "digits")
    torch.manual_seed(1)
    second = models.save_checkpoint(tmp_path / "b" / "checkpoint.safetensors", models.create("mlp-shallow", **args),
                                    {"model": "mlp-shallow", "model_args": args})  # fmt: skip
    out = tmp_path / "uap"
    invoke("attack", "universal", "--checkpoint", str(first), "--data", "digits", "--samples", "20", "--xi", "0.2",
           "--n-fit", "16", "--max-passes", "1", "--steps", "5", "--out", str(out))  # fmt: skip
    summary = json.loads((out / "result.json").read_text())
    assert summary["xi"] == 0.2 and summary["n_fit"] == 16 and summary["n_eval"] == 20
    out = tmp_path / "ens"
    invoke("attack", "ensemble", "--checkpoints", f"{first.parent}", "--held-out", str(second.parent), "--data",
           "digits", "--samples", "10", "--method", "fgsm", "--eps", "0.2", "--out", str(out))  # fmt: skip
    summary = json.loads((out / "result.json").read_text())
    assert [m["role"] for m in summary["models"]] == ["ensemble", "held out"] and summary["n"] == 10
    code, err = run_main(monkeypatch, capsys, "attack", "ensemble", "--data", "digits")
    assert code == 2 and "needs --checkpoints" in err
    code, err = run_main(monkeypatch, capsys, "attack", "universal", "--checkpoint", str(first), "--xii", "1")
    assert code == 2 and "has no option --xii" in err and "--n-fit" in err
