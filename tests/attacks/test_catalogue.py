"""`advlab.attack_catalogue`: the attack registry as data, so that `advlab list --attacks` and
the first checks of `advlab attack NAME` answer without importing torch."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from advlab import attack_catalogue
from advlab.commands.attack import build_attack

# the CLI's entry point in a fresh interpreter; at exit it says whether torch was imported
RUN_CLI = ("import atexit, sys\n"
           "atexit.register(lambda: print('torch imported:', 'torch' in sys.modules))\n"
           "from advlab.cli import main\n"
           "main()\n")


def test_the_catalogue_file_matches_the_live_registry() -> None:
    on_disk = json.loads(attack_catalogue.PATH.read_text())
    assert on_disk == attack_catalogue.generate(), (
        f"{attack_catalogue.PATH.name} is out of date with the attack registry or the protocols: "
        "run `python -m advlab.attack_catalogue` and commit the file")


@pytest.mark.parametrize("args,code,expected", [
    (["list", "--attacks"], 0, ["advlab attack pgd", "--step-size", "advlab attack universal"]),
    (["attack", "pgd"], 2, ["error: attack pgd needs --eps; its options: --eps, --step-size, "]),
    (["attack", "bogus"], 2, ["error: unknown attack 'bogus'; valid names: apgd, apgd-t,"]),
    (["attack", "pgd", "--eps", "0.1"], 2, ["error: attack pgd needs --checkpoint (the classifier)"]),
])  # fmt: skip
def test_listing_and_early_attack_errors_import_no_torch(
    tmp_path: Path, args: list[str], code: int, expected: list[str]
) -> None:
    run = subprocess.run([sys.executable, "-c", RUN_CLI, *args], capture_output=True, text=True,
                         cwd=tmp_path)  # fmt: skip
    assert run.returncode == code, run.stderr
    assert run.stdout.splitlines()[-1] == "torch imported: False"
    for text in expected:
        assert text in run.stdout + run.stderr
    if code:
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr  # the one-line error path
    else:  # one table per attack and protocol
        assert all(f"advlab attack {name}" in run.stdout for name in attack_catalogue.names())


def _message(check: Callable[[str, list[str]], object], name: str, words: list[str]) -> str | None:
    """The message `check` refuses the request with, None when it lets it through."""
    try:
        check(name, words)
    except (ValueError, KeyError) as error:
        return str(error)
    return None


@pytest.mark.parametrize("name,words", [
    *[(name, []) for name in attack_catalogue.names() if attack_catalogue.entry(name).kind == "attack"],
    ("bogus", []),
    ("pgd", ["--steps", "3", "--no-random-start"]),
    ("pgd", ["--eps", "0.1"]),
    ("pgd", ["--eps=0.1", "--targeted"]),
    ("eot", ["--draws", "2"]),
    ("eot", ["--inner", "fgsm", "--inner-eps", "0.1"]),
])  # fmt: skip
def test_the_precheck_says_what_the_torch_path_says(name: str, words: list[str]) -> None:
    """An unknown name or a missing required option: the same message as `build_attack`;
    a request it lets through is one `build_attack` does not refuse for a missing option."""
    expected = _message(build_attack, name, words)
    assert _message(attack_catalogue.check_request, name, words) == expected


def test_the_precheck_lets_the_protocols_through() -> None:
    for name in ("universal", "ensemble"):
        attack_catalogue.check_request(name, [])
        assert attack_catalogue.entry(name).kind == "protocol"
