"""The intra-op thread choice: --threads, then $ADVLAB_THREADS, then $OMP_NUM_THREADS, then 1."""

from __future__ import annotations

import pytest
import torch

from advlab.threads import (
    DEFAULT_THREADS,
    apply_threads,
    available_cores,
    choose_threads,
    chosen_threads,
)


def test_precedence_option_then_advlab_then_omp_then_default() -> None:
    both = {"ADVLAB_THREADS": "3", "OMP_NUM_THREADS": "5"}
    assert choose_threads("2", both).threads == 2
    assert choose_threads(None, both).threads == 3
    assert choose_threads(None, {"OMP_NUM_THREADS": "5"}).source == "$OMP_NUM_THREADS"
    default = choose_threads(None, {})
    assert (default.threads, default.source) == (DEFAULT_THREADS, "default")
    assert choose_threads("auto", {}).threads == available_cores()


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5"])
def test_bad_thread_counts_are_refused_naming_the_origin(text: str) -> None:
    with pytest.raises(ValueError, match="--threads"):
        choose_threads(text, {})
    with pytest.raises(ValueError, match=r"\$ADVLAB_THREADS"):
        choose_threads(None, {"ADVLAB_THREADS": text})


def test_apply_sets_torch_threads_and_is_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # restored after the test
    before = torch.get_num_threads()
    try:
        apply_threads(choose_threads("2", {}))
        assert torch.get_num_threads() == 2
        assert chosen_threads().threads == 2 and chosen_threads().source == "--threads"
    finally:
        torch.set_num_threads(before)
