"""What `advlab attack NAME` accepts, as data (light: no torch).

`advlab list --attacks` and the first checks of `advlab attack NAME` (an unknown name, a
missing required option) answer from ``attack_catalogue.json`` beside this module instead of
importing the attack registry, whose modules import torch (seconds at start-up). The file is
generated from the live registries by ``python -m advlab.attack_catalogue`` (which does import
torch); tests/attacks/test_catalogue.py fails when it no longer matches them.

The module sits in `advlab`, not in `advlab.attacks`: importing any module of that package
first runs its ``__init__``, which imports every attack and so torch.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from functools import cache
from pathlib import Path
from typing import Any

from advlab.options import option_name
from advlab.registry import Registry, UnknownNameError

PATH = Path(__file__).with_name("attack_catalogue.json")
log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Entry:
    """One name of `advlab attack NAME`: `kind` "attack" (`advlab.attacks.ATTACKS`) or
    "protocol" (`advlab.commands.attack_protocols.PROTOCOLS`); `doc` the first paragraph of
    its docstring on one line; `rows` its (option, type, default) help rows as
    `advlab.options.describe_fields` gives them; `fields` its dataclass fields in order;
    `required` those of them without a default."""

    name: str
    kind: str
    doc: str
    rows: list[list[str]]
    fields: list[str]
    required: list[str]


def generate() -> dict[str, Any]:
    """The catalogue of the live registries, as written to the file: the registry's kind
    (for its unknown-name message) and an entry per attack, then per protocol, in registry
    order. Imports torch."""
    from advlab.attacks import ATTACKS, Attack
    from advlab.commands.attack_protocols import PROTOCOLS
    from advlab.options import describe_fields, missing_required

    def describe(name: str, cls: type, kind: str) -> dict[str, Any]:
        return {
            "name": name,
            "kind": kind,
            "doc": " ".join((cls.__doc__ or "").split("\n\n")[0].split()),
            "rows": [list(row) for row in describe_fields(cls, chosen={Attack})],
            "fields": [f.name for f in dataclasses.fields(cls)],
            "required": missing_required(cls, {}),
        }

    entries = [describe(name, cls, "attack") for name, cls in ATTACKS.items()]
    entries += [describe(name, cls, "protocol") for name, cls in PROTOCOLS.items()]
    return {"registry": ATTACKS.kind, "entries": entries}


def write_catalogue(path: Path = PATH) -> Path:
    """Regenerate the catalogue file from the live registries (imports torch); returns its path."""
    path.write_text(json.dumps(generate(), indent=1) + "\n")
    return path


@cache
def _load() -> tuple[Registry[Entry], dict[str, Entry]]:
    """(the attacks as a registry, every entry by name in the file's order)."""
    data = json.loads(PATH.read_text())
    entries = {e["name"]: Entry(**e) for e in data["entries"]}
    # a Registry of the attacks alone, so that an unknown name gets the registry's own message
    attacks: Registry[Entry] = Registry(data["registry"])
    for found in entries.values():
        if found.kind == "attack":
            attacks.add(found.name, found)
    return attacks, entries


def names() -> list[str]:
    """Every name `advlab attack` takes: the attacks, then the protocols, in registry order."""
    return list(_load()[1])


def entry(name: str) -> Entry:
    """The catalogue entry of `name`. An unknown name raises ValueError with the message of
    ``ATTACKS.get(name)`` (the attacks' names; the protocols are not in that registry)."""
    attacks, entries = _load()
    if name in entries and entries[name].kind == "protocol":
        return entries[name]
    try:
        return attacks.get(name)
    except UnknownNameError as error:
        raise ValueError(str(error)) from None


def check_request(name: str, words: list[str]) -> None:
    """Refuse ``advlab attack NAME WORDS`` without torch when `name` is unknown or a required
    field is not given (as ``--eps value`` or ``--eps=value``), with the messages of the torch
    path (`advlab.commands.attack.build_attack`). Types, values and nested options are left to
    that path, which runs afterwards."""
    found = entry(name)
    typed = {word.partition("=")[0] for word in words}
    missing = [f for f in found.required if option_name(f) not in typed]
    if missing:
        raise ValueError(missing_options_message(name, missing, found.fields))


def missing_options_message(name: str, missing: list[str], fields: list[str]) -> str:
    """The one message for an attack whose required fields `missing` were not given (here and
    in `advlab.commands.attack.build_attack`): the options to give, then all of its options."""
    return (f"attack {name} needs {', '.join(option_name(f) for f in missing)}; "
            f"its options: {', '.join(option_name(f) for f in fields)}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log.info("wrote %s", write_catalogue())
