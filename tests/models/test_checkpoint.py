from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from advlab import models
from advlab.models.checkpoint import (
    CheckpointError,
    load_state,
    optimizer_state_from_tensors,
    optimizer_state_to_tensors,
    save_state,
)

META = {"model": "wong-small", "model_args": {"in_channels": 1, "num_classes": 10, "image_size": 8}}


def _net() -> torch.nn.Module:
    return models.create("wong-small", **META["model_args"])


def test_round_trip_rebuilds_the_model(tmp_path: Path) -> None:
    net = _net()
    models.save_checkpoint(tmp_path / "run", net, META)
    loaded = models.load_checkpoint(tmp_path / "run")
    x = torch.rand(3, 1, 8, 8)
    assert not loaded.training
    # the promise is bit-for-bit weights; the outputs come from two kernels (load_checkpoint
    # returns channels-last conv weights), which may round differently
    saved, restored = net.state_dict(), loaded.state_dict()
    assert saved.keys() == restored.keys()
    assert all(torch.equal(saved[k], restored[k]) for k in saved)
    torch.testing.assert_close(loaded(x), net(x), rtol=1e-5, atol=1e-6)


def test_optimizer_state_round_trip(tmp_path: Path) -> None:
    net = _net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.5, 0.9))
    net(torch.rand(4, 1, 8, 8)).sum().backward()
    opt.step()
    tensors, meta = optimizer_state_to_tensors(opt)
    save_state(tmp_path / "o.safetensors", tensors, {"opt": meta})
    t2, m2 = load_state(tmp_path / "o.safetensors")
    opt2 = torch.optim.Adam(net.parameters(), lr=0.1)
    optimizer_state_from_tensors(opt2, t2, m2["opt"])
    assert opt2.param_groups[0]["lr"] == 1e-3 and tuple(opt2.param_groups[0]["betas"]) == (0.5, 0.9)
    for p in net.parameters():
        a, b = opt.state[p], opt2.state[p]
        assert torch.equal(a["exp_avg"], b["exp_avg"]) and torch.equal(a["step"], b["step"])


def test_truncated_checkpoint_is_refused_with_its_path(tmp_path: Path) -> None:
    path = models.save_checkpoint(tmp_path / "run", _net(), META)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match=str(path)):
        models.load_checkpoint(tmp_path / "run")


def test_flipped_byte_is_caught(tmp_path: Path) -> None:
    path = models.save_checkpoint(tmp_path / "run", _net(), META)
    blob = bytearray(path.read_bytes())
    blob[-10] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="corrupt"):
        models.load_checkpoint(path)


def test_pickle_files_are_never_unpickled(tmp_path: Path) -> None:
    class Boom:
        def __reduce__(self):  # would run on unpickling
            return (Path(tmp_path / "pwned").touch, ())

    bad = tmp_path / "evil.safetensors"
    bad.write_bytes(pickle.dumps(Boom(), protocol=4))
    with pytest.raises(CheckpointError, match="pickle"):
        models.load_checkpoint(bad)
    torch.save(_net().state_dict(), tmp_path / "weights.pt")
    with pytest.raises(CheckpointError, match="pickle"):
        models.load_checkpoint(tmp_path / "weights.pt")
    assert not (tmp_path / "pwned").exists()


def test_checkpoint_of_another_model_is_refused(tmp_path: Path) -> None:
    models.save_checkpoint(tmp_path / "run", _net(), META)
    ckpt = models.read_checkpoint(tmp_path / "run")
    other = models.create("fc500-150-10", in_channels=1, image_size=8)
    from advlab.models.checkpoint import load_weights

    with pytest.raises(CheckpointError, match="not the expected"):
        load_weights(other, ckpt, expected_model="fc500-150-10")
    with pytest.raises(CheckpointError, match="does not match"):
        load_weights(other, ckpt)


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = _net()
    path = models.save_checkpoint(tmp_path / "run", net, META)
    before = path.read_bytes()

    def crash(*args: object) -> None:
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr("advlab.models.checkpoint.os.replace", crash)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    with pytest.raises(KeyboardInterrupt):
        models.save_checkpoint(tmp_path / "run", net, META)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind
    models.load_checkpoint(path)


def test_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint"):
        models.load_checkpoint(tmp_path / "nothing")
