"""Shared fixtures: seeded, offline, CPU, small."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Trained-model cache and dataset root inside the test session's temporary folder."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("ADVLAB_CACHE", str(base / "model-cache"))
    monkeypatch.setenv("ADVLAB_DATA", str(base / "data-root"))
