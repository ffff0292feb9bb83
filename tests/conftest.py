"""Shared fixtures: seeded, offline, CPU, small; `digits` and `trained_mlp` are the small
classifier and data that attack, defence and command tests share."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from advlab import data as datasets

os.environ.setdefault("MPLBACKEND", "Agg")

# ADVLAB_TEST_MKLDNN=0 runs the whole suite with oneDNN off (other CPU kernels): together
# with ADVLAB_CHANNELS_LAST=0 it shakes out assertions that depend on one kernel's rounding.
if os.environ.get("ADVLAB_TEST_MKLDNN", "1") == "0":
    torch.backends.mkldnn.enabled = False


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Trained-model cache and dataset root inside the test session's temporary folder."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("ADVLAB_CACHE", str(base / "model-cache"))
    monkeypatch.setenv("ADVLAB_DATA", str(base / "data-root"))


@pytest.fixture(scope="session")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The digits test split: x (N, 1, 8, 8) in [0, 1], y (N,)."""
    return datasets.as_tensors(datasets.load("digits", "test"))


@pytest.fixture(scope="session")
def trained_mlp() -> nn.Module:
    """A 64-32-10 ReLU MLP trained on the digits train split (full batch Adam, seeded)."""
    x, y = datasets.as_tensors(datasets.load("digits", "train"))
    generator = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    for p in model.parameters():  # deterministic init independent of the global RNG
        with torch.no_grad():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.2)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()
    model.zero_grad(set_to_none=True)
    return model.eval()



@pytest.fixture
def single_thread():
    """Tiny networks: one intra-op thread is fastest (and avoids OpenMP spin on shared
    cores). Use with `pytestmark = pytest.mark.usefixtures("single_thread")`."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
