"""The README cannot drift from the command: every `advlab ...` line in its code blocks is
parsed by the CLI's own parser (click's, with every option typed and checked) and, for verbs
with a grammar of their own, by that grammar (an attack's fields, an experiment's config, the
GAN config), without running anything."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer.main
from typer import _click as click  # typer vendors click
from typer.core import TyperGroup

from advlab.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands() -> list[str]:
    """The `advlab ...` command lines of the README's code blocks (continuations joined,
    comments and `torchrun ... -m` prefixes removed)."""
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:bash|sh|console)?\n(.*?)```", text, flags=re.S)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            line = re.sub(r"^torchrun\s+(--\S+\s+)*-m\s+advlab\b", "advlab", line)
            if line.startswith("advlab "):
                commands.append(line)
    return commands


def resolve(words: list[str]) -> None:
    """Parse `words` (after `advlab`) like the CLI would, stopping before any work."""
    group = typer.main.get_command(app)
    ctx = group.make_context("advlab", list(words))
    args = [*ctx._protected_args, *ctx.args]
    command = group
    path: list[str] = []
    while isinstance(command, TyperGroup) and args:
        name, command, args = command.resolve_command(ctx, args)
        path.append(str(name))
        ctx = command.make_context(str(name), list(args), parent=ctx)
        args = [*ctx._protected_args, *ctx.args] if isinstance(command, TyperGroup) else ctx.args
    resolve_own_grammar(path, ctx.params, list(ctx.args))


def resolve_own_grammar(path: list[str], params: dict, extra: list[str]) -> None:
    """The extra words of verbs that take a dataclass's fields as options."""
    if path == ["attack"]:
        from advlab.commands.attack import build_attack
        from advlab.commands.attack_protocols import PROTOCOLS, parse_protocol

        if params["name"] in PROTOCOLS:
            parse_protocol(params["name"], extra)
        else:
            build_attack(params["name"], extra)
    elif path == ["reproduce"]:
        from advlab.commands.experiments import build_configs, check_request
        from advlab.experiments import names

        chosen = names() if params["name"] == "all" else [params["name"]]
        check_request(chosen, params["scale"], extra)
        build_configs(chosen, params["scale"], extra, params["seed"])
    elif path == ["gan", "train"]:
        from advlab.commands.gan import train_config

        given = {k: v for k, v in params.items() if k not in ("out", "resume", "force")}
        train_config(extra, given)  # a --resume line: the options alone (no run folder here)
    else:
        assert not extra, f"advlab {' '.join(path)} takes no extra words, got {extra}"


COMMANDS = readme_commands()


def test_the_readme_shows_commands() -> None:
    assert len(COMMANDS) >= 30


@pytest.mark.parametrize("line", COMMANDS)
def test_readme_command_parses(line: str) -> None:
    words = shlex.split(line)[1:]
    resolve(words)


def test_a_drifted_line_would_fail() -> None:
    with pytest.raises(click.ClickException):
        resolve(["attack", "fgsm", "--checkpoint", "runs/lenet", "--eps", "0.1",
                 "--predicted-labels", "--samples", "x"])
    with pytest.raises(ValueError, match="no option"):
        resolve(["attack", "fgsm", "--checkpoint", "runs/lenet", "--eps", "0.1",
                 "--predicted-labels"])
