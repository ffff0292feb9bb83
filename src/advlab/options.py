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
from collections.abc import Callable, Collection, Mapping
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


def parse_field_options(words: list[str], config_type: type, owner: str,
                        choosers: Mapping[type, Callable[[str], type]] | None = None,
                        prefix: str = "") -> dict[str, Any]:  # fmt: skip
    """Typed values for the fields of `config_type` named in `words` (``--field value``).

    Unknown names are refused with the list of valid options; a value that does not parse as
    its field's type is refused naming the option (``--eps expects float, got 'x'``).

    Nested fields are configured part by part: a field whose type is a dataclass takes
    ``--<field>-<part> value`` for each of its fields (``--distribution-rotation -30,30``); a
    field whose type is a key of `choosers` takes a name (``--inner pgd``, resolved to a class
    by ``choosers[type](name)``) and that class's fields as ``--inner-<part> value``. The
    nested value is built with its class; its missing required parts are named as options.
    """
    kinds = field_types(config_type)
    choosers = choosers or {}
    nested = {n: k for n, k in kinds.items() if isinstance(k, type) and (dataclasses.is_dataclass(k) or k in choosers)}
    own, parts = _split_nested(words, nested)
    named = {n: (str if n in nested else k) for n, k in kinds.items()}  # a nested field's own value: a name
    flags = {name for name, kind in named.items() if is_bool(kind)}
    for word in own:  # unknown names first: a typo is answered with the valid options
        key = word[2:].partition("=")[0] if word.startswith("--") else ""
        name = key.replace("-", "_")
        if key and name not in kinds and not (name.startswith("no_") and name[3:] in flags):
            valid = ", ".join(option_name(prefix + n) for n in kinds)
            raise ValueError(f"{owner} has no option --{prefix.replace('_', '-')}{key}; its options: {valid}")
    values = {key.replace("-", "_"): coerce(text, named[key.replace("-", "_")], f"--{prefix.replace('_', '-')}{key}")
              for key, text in split_words(own, flags).items()}  # fmt: skip
    for field, kind in nested.items():
        choice = values.pop(field, None)
        if choice is None and not parts[field]:
            continue
        option = option_name(prefix + field)
        if kind in choosers:
            if choice is None:
                raise ValueError(f"{owner}: {option} needs a name before its parts ({option}-...)")
            target = choosers[kind](choice)
        elif choice is not None:
            raise ValueError(f"{owner}: {option} takes no value; set its parts with {option}-<part>")
        else:
            target = kind
        values[field] = _build(target, parse_field_options(parts[field], target, owner, choosers, f"{prefix}{field}_"),
                               owner, f"{prefix}{field}_")  # fmt: skip
    return values


def _split_nested(words: list[str], nested: Mapping[str, Any]) -> tuple[list[str], dict[str, list[str]]]:
    """The words of `words` that belong to nested fields (``--<field>-<part> [value]``, as
    ``--<part> [value]``) apart from the rest."""
    own: list[str] = []
    parts: dict[str, list[str]] = {n: [] for n in nested}
    i = 0
    while i < len(words):
        word = words[i]
        key = word[2:].partition("=")[0].replace("-", "_") if word.startswith("--") else ""
        field = next((n for n in nested if key.startswith(n + "_")), None)
        if field is None:
            own.append(word)
            i += 1
            continue
        parts[field].append("--" + word[3 + len(field):])
        i += 1
        if "=" not in word and i < len(words) and not words[i].startswith("--"):
            parts[field].append(words[i])
            i += 1
    return own, parts


def missing_required(config_type: type, values: Mapping[str, Any]) -> list[str]:
    """The fields of a dataclass type that have no default and are not in `values`."""
    return [f.name for f in dataclasses.fields(config_type)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            and f.name not in values]  # fmt: skip


def _build(target: type, values: dict[str, Any], owner: str, prefix: str) -> Any:
    """target(**values), its missing required fields named as the options to give."""
    missing = missing_required(target, values)
    if missing:
        raise ValueError(f"{owner} needs {', '.join(option_name(prefix + n) for n in missing)}")
    return target(**values)


def option_name(field: str) -> str:
    """The command-line spelling of a field: ``step_size`` -> ``--step-size``."""
    return "--" + field.replace("_", "-")


def describe_fields(config_type: type, prefix: str = "", instance: Any = None,
                    chosen: Collection[type] = ()) -> list[tuple[str, str, str]]:  # fmt: skip
    """(option, type, default) for every field of a dataclass type, for help tables; the
    parts of a dataclass-typed field as ``--<field>-<part>`` rows (their defaults those of
    the field's default value, or of `instance`); a field typed by one of `chosen` (the keys
    of `parse_field_options`' choosers) as a name followed by its own options."""
    rows = []
    kinds = field_types(config_type)
    for f in dataclasses.fields(config_type):
        if instance is not None:
            value: Any = getattr(instance, f.name)
        elif f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            value = dataclasses.MISSING
        kind = kinds[f.name]
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            rows += describe_fields(kind, f"{prefix}{f.name}_", None if value is dataclasses.MISSING else value,
                                    chosen)  # fmt: skip
            continue
        kind_name = type_name(kind)
        if kind in chosen:
            kind_name = f"{kind.__name__.lower()} name, then {option_name(prefix + f.name)}-<option>"
        default = "required" if value is dataclasses.MISSING else repr(value)
        rows.append((option_name(prefix + f.name), kind_name, default))
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
