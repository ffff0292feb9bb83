from __future__ import annotations

from pathlib import Path

import pytest
import torch

from advlab import data, models
from advlab.train import (
    BatchOutput,
    TrainConfig,
    TrainingDiverged,
    cross_entropy_loss,
    evaluate,
    fit,
)

ARGS = {"in_channels": 1, "num_classes": 10, "image_size": 8}
META = {"model": "wong-small", "model_args": ARGS, "dataset": "digits"}


def _digits() -> tuple:
    return data.load("digits", "train"), data.load("digits", "test")


def _net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return models.create("wong-small", **ARGS)


def test_training_learns_and_writes_curves(tmp_path: Path) -> None:
    train, test = _digits()
    net = _net()
    before = evaluate(net, test).accuracy
    summary = fit(net, train, test, TrainConfig(epochs=5, lr=0.05), tmp_path, meta=META)
    assert summary.test_accuracy is not None and summary.test_accuracy > 0.85 > before
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,step,wall_seconds,lr,train_loss,train_accuracy,test_loss,test_accuracy")
    assert len(lines) == 6
    assert any((tmp_path / "tb").iterdir())  # TensorBoard event file
    reloaded = models.load_checkpoint(tmp_path)
    assert evaluate(reloaded, test).accuracy == pytest.approx(summary.test_accuracy)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_interrupted_and_resumed_run_equals_uninterrupted_run(tmp_path: Path, optimizer: str) -> None:
    train, test = _digits()
    # dropout makes the global RNG state matter too
    cfg = TrainConfig(epochs=3, batch_size=100, optimizer=optimizer, lr=0.01, schedule="cosine")  # type: ignore[arg-type]

    def dropout_net() -> torch.nn.Module:
        net = _net()
        net.insert(5, torch.nn.Dropout(0.3))
        return net

    full = dropout_net()
    fit(full, train, test, cfg, tmp_path / "full", meta=META)

    part = dropout_net()
    fit(part, train, test, cfg, tmp_path / "part", meta=META, stop_after_steps=20)  # mid-epoch 2
    torch.manual_seed(123)  # a resumed process starts with different RNG state
    resumed = dropout_net()
    fit(resumed, train, test, cfg, tmp_path / "part", meta=META, resume=True)

    for (name, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), name  # resume continues the same computation bit for bit
    rows = lambda p: [line.split(",")[:2] + line.split(",")[3:] for line in (p / "metrics.csv").read_text().splitlines()]  # noqa: E731
    assert rows(tmp_path / "full") == rows(tmp_path / "part")  # same curves, wall time aside


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path: Path) -> None:
    train, test = _digits()
    net = _net()
    fit(net, train, test, TrainConfig(epochs=1), tmp_path, meta=META)
    good = (tmp_path / "checkpoint.safetensors").read_bytes()
    calls = {"n": 0}

    def poisoned(model, x, y, progress):
        calls["n"] += 1
        out = cross_entropy_loss(model, x, y, progress)
        if calls["n"] == 5:
            out.loss = out.loss * float("nan")
        return out

    with pytest.raises(TrainingDiverged, match="nan") as info:
        fit(net, train, test, TrainConfig(epochs=3), tmp_path, meta=META, batch_loss=poisoned, resume=True)
    assert str(tmp_path / "checkpoint.safetensors") in str(info.value)
    assert (tmp_path / "checkpoint.safetensors").read_bytes() == good  # the file was not rewritten
    models.load_checkpoint(tmp_path)


def test_pluggable_batch_loss_gets_progress_and_logs_metrics(tmp_path: Path) -> None:
    train, _ = _digits()
    seen: list[float] = []

    def loss(model, x, y, progress):
        seen.append(progress)
        out = cross_entropy_loss(model, x, y, progress)
        return BatchOutput(out.loss, out.logits, {"eps": torch.tensor(0.1 * progress)})

    fit(_net(), train, None, TrainConfig(epochs=2, batch_size=500), tmp_path, batch_loss=loss, meta=META)
    assert seen[0] == 0.0 and seen == sorted(seen) and seen[-1] < 1.0 and len(seen) == 6
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0]
    assert "eps" in header


def test_resume_without_checkpoint_and_bad_config(tmp_path: Path) -> None:
    train, _ = _digits()
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        fit(_net(), train, None, TrainConfig(epochs=1), tmp_path, resume=True, meta=META)
    with pytest.raises(ValueError, match="sgd, adam"):
        TrainConfig(optimizer="lbfgs")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)


def test_resume_refuses_another_models_checkpoint(tmp_path: Path) -> None:
    from advlab.models import CheckpointError

    train, _ = _digits()
    fit(_net(), train, None, TrainConfig(epochs=1), tmp_path, meta=META)
    other = models.create("fc500-150-10", **ARGS)
    with pytest.raises(CheckpointError, match="not the expected"):
        fit(other, train, None, TrainConfig(epochs=2), tmp_path, resume=True, meta={"model": "fc500-150-10"})


def test_after_step_hook_runs_after_every_step_and_is_checkpointed(tmp_path: Path) -> None:
    train, _ = _digits()
    calls: list[int] = []

    def clamp_weights(model: torch.nn.Module, step: int) -> None:
        calls.append(step)
        for p in model.parameters():
            p.clamp_(-0.01, 0.01)

    cfg = TrainConfig(epochs=2, batch_size=500, lr=0.5)
    fit(_net(), train, None, cfg, tmp_path, meta=META, after_step=clamp_weights)
    steps = 2 * -(-len(train) // 500)
    assert calls == list(range(1, steps + 1))
    reloaded = models.load_checkpoint(tmp_path)
    assert all(float(p.detach().abs().max()) <= 0.01 for p in reloaded.parameters())
