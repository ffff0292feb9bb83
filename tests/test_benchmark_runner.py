"""`python -m benchmarks.run attacks certify` runs a selection: each benchmark's own option
parser sees none of run.py's arguments."""

from __future__ import annotations

import argparse
import sys
import types

import pytest


def test_selection_does_not_leak_runner_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import run

    seen: list[str] = []

    def fake_main() -> None:  # parses sys.argv like the benchmarks' mains do
        parser = argparse.ArgumentParser()
        parser.add_argument("--repeats", type=int, default=1)
        parser.parse_args()
        seen.append("ran")

    fake = types.SimpleNamespace(main=fake_main)
    monkeypatch.setattr(run.importlib, "import_module", lambda name: fake)
    monkeypatch.setattr(sys, "argv", ["benchmarks.run", "attacks", "certify"])
    assert run.main(["attacks", "certify"]) == 0
    assert seen == ["ran", "ran"] and sys.argv == ["benchmarks.run", "attacks", "certify"]
    assert run.main(["nope"]) == 2
