"""`advlab` as a whole: one-line errors for bad input, exit codes, start-up without torch, tables at the console's width, fresh output folders."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from .running import invoke, run_main, untrained_checkpoint


def test_bad_input_gets_one_clear_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    code, err = run_main(monkeypatch, capsys, "data", "show", "mnist5k")
    assert code == 2 and "valid names" in err and "Traceback" not in err
    code, err = run_main(monkeypatch, capsys, "eval", "--checkpoint", str(tmp_path / "none"))
    assert code == 2 and "no checkpoint" in err
    code, err = run_main(monkeypatch, capsys, "reproduce", "nope")
    assert code == 2 and "classifier-baselines" in err
    code, err = run_main(monkeypatch, capsys, "reproduce", "classifier-baselines", "--out", str(tmp_path), "--epoch", "3")
    assert code == 2 and "has no option --epoch; its options:" in err and "--training-epochs" in err
    code, err = run_main(monkeypatch, capsys, "train", "classifier", "--optimizer", "lbfgs", "--out", str(tmp_path / "x"))
    assert code == 2 and "sgd, adam" in err


def test_usage_errors_and_divergence_exit_cleanly(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    """An unknown option is a usage error (exit 2, click's message); a diverging run stops with
    one line and exit 3, keeping what it had written."""
    code, err = run_main(monkeypatch, capsys, "data", "list", "--bogus")
    assert code == 2 and "--bogus" in err
    code, err = run_main(monkeypatch, capsys, "train", "classifier", "--model", "fc500-150-10",
                         "--data", "digits", "--epochs", "2", "--lr", "1e12", "--out", str(tmp_path / "nan"))
    assert code == 3 and "training stopped" in err and "loss is" in err


def test_importing_the_cli_imports_no_torch() -> None:
    """`advlab --help`, `list`, `data list` and reproduce's usage errors (unknown experiment or
    scale) answer at once: the CLI module and the registries load without torch (each command
    imports what it needs when it runs)."""
    import subprocess

    code = ("import sys, advlab.cli, advlab.data, advlab.experiments; "
            "from advlab.commands.data import dataset_table; dataset_table(None); "
            "from advlab.commands.experiments import experiment_table; experiment_table(); "
            "from advlab.commands.experiments import check_request\n"
            "refused = 0\n"
            "for scale in ('huge', 'quick'):\n"
            "    try: check_request(['classifier-baselines' if scale == 'huge' else 'deepfool'], scale, [])\n"
            "    except (ValueError, LookupError): refused += 1\n"
            "print(refused, 'torch' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2 False", out.stderr


def test_tables_fit_80_columns_without_cutting_cells() -> None:
    from rich.console import Console

    from advlab.cli import shared as cli
    from advlab.report.tables import Table

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
    checkpoint = untrained_checkpoint(tmp_path)  # fc500-150-10 for 8x8 digits
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


def test_default_output_folders_never_overwrite(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    checkpoint = untrained_checkpoint(tmp_path)
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
