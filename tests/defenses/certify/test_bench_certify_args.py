"""benchmarks/bench_certify.py parses an explicit argument list, so that `python -m
benchmarks.run attacks certify` (run.py's own arguments) no longer breaks it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def test_bench_certify_ignores_the_callers_command_line(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks import bench_certify

    monkeypatch.setattr(sys, "argv", ["benchmarks/run.py", "attacks", "certify"])
    defaults = bench_certify.parse_args()
    assert (defaults.repeats, defaults.ca_repeats, defaults.proj_repeats) == (3, 2, 5)
    assert bench_certify.parse_args(["--repeats", "5"]).repeats == 5
    with pytest.raises(SystemExit):
        bench_certify.parse_args(["attacks"])  # its own options are still checked
