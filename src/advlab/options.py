"""Command-line options derived from dataclass fields (light: no torch).

`advlab attack NAME --field value ...` and `advlab gan train --field value ...` take every
field of the attack's (or the GAN config's) dataclass as an option; `parse_field_options`
turns the raw ``--field value`` / ``--field=value`` / ``--flag`` / ``--no-flag`` words into
typed values, and names the option the user typed in every error.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any


def coerce(text: str, kind: Any, name: str) -> Any:
    """Parse `text` as the type `kind` (int, float, bool, str, tuple[X, ...], X | None)."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        kind = next(a for a in args if a is not type(None))
        return coerce(text, kind, name)
    if origin is tuple:
        item = args[0] if args else str
        return tuple(coerce(part.strip(), item, name) for part in text.split(",") if part.strip())
    if origin is typing.Literal:
        if text not in args:
            raise ValueError(f"{name} must be one of {', '.join(map(str, args))}, got {text!r}")
        return text
    try:
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        return kind(text)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} expects {getattr(kind, '__name__', kind)}, got {text!r}") from error


def field_types(config_type: type) -> dict[str, Any]:
    """Field name -> resolved type of a dataclass type."""
    hints = typing.get_type_hints(config_type)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_type)}


def is_bool(kind: Any) -> bool:
    """Whether a field type is bool (or bool | None)."""
    return kind is bool or (typing.get_origin(kind) in (typing.Union, types.UnionType)
                            and set(typing.get_args(kind)) == {bool, type(None)})  # fmt: skip


def split_words(words: list[str], flags: set[str]) -> dict[str, str]:
    """``--key value`` / ``--key=value`` pairs; names in `flags` (booleans) may stand alone
    (``--targeted`` -> "true", ``--no-targeted`` -> "false"). Keys keep the dashes typed."""
    pairs: dict[str, str] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("--") or word == "--":
            raise ValueError(f"unexpected argument {word!r}; options look like --name value")
        key, sep, value = word[2:].partition("=")
        name = key.replace("-", "_")
        if sep:
            pairs[key] = value
            i += 1
        elif name in flags and (i + 1 == len(words) or words[i + 1].startswith("--")):
            pairs[key] = "true"
            i += 1
        elif name.startswith("no_") and name[3:] in flags:
            pairs[key[3:]] = "false"
            i += 1
        elif i + 1 >= len(words):
            raise ValueError(f"option --{key} needs a value")
        else:
            pairs[key] = words[i + 1]
            i += 2
    return pairs


def parse_field_options(words: list[str], config_type: type, owner: str) -> dict[str, Any]:
    """Typed values for the fields of `config_type` named in `words` (``--field value``).

    Unknown names are refused with the list of valid options; a value that does not parse as
    its field's type is refused naming the option (``--eps expects float, got 'x'``).
    """
    kinds = field_types(config_type)
    flags = {name for name, kind in kinds.items() if is_bool(kind)}
    for word in words:  # unknown names first: a typo is answered with the valid options
        key = word[2:].partition("=")[0] if word.startswith("--") else ""
        name = key.replace("-", "_")
        if key and name not in kinds and not (name.startswith("no_") and name[3:] in flags):
            valid = ", ".join(option_name(n) for n in kinds)
            raise ValueError(f"{owner} has no option --{key}; its options: {valid}")
    return {key.replace("-", "_"): coerce(text, kinds[key.replace("-", "_")], f"--{key}")
            for key, text in split_words(words, flags).items()}


def option_name(field: str) -> str:
    """The command-line spelling of a field: ``step_size`` -> ``--step-size``."""
    return "--" + field.replace("_", "-")


def describe_fields(config_type: type) -> list[tuple[str, str, str]]:
    """(option, type, default) for every field of a dataclass type, for help tables."""
    rows = []
    kinds = field_types(config_type)
    for f in dataclasses.fields(config_type):
        if f.default is not dataclasses.MISSING:
            default = repr(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = repr(f.default_factory())
        else:
            default = "required"
        rows.append((option_name(f.name), type_name(kinds[f.name]), default))
    return rows


def type_name(kind: Any) -> str:
    """A short readable name of a field type: float, int | None, linf | l2, ..."""
    origin = typing.get_origin(kind)
    if origin is typing.Literal:
        return " | ".join(map(str, typing.get_args(kind)))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(kind))
    if origin is tuple:
        args = typing.get_args(kind)
        return f"{type_name(args[0]) if args else 'str'},..."
    return "None" if kind is type(None) else getattr(kind, "__name__", str(kind))
