"""Shared set-up of the GAN tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """These networks are tiny: one intra-op thread is fastest, and on a shared 2-core machine
    a second OpenMP thread that spin-waits can make a small convolution 100x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
