"""A typed name -> factory registry shared by datasets, models, attacks, GAN parts and experiments.

Lookups of an unknown name raise `UnknownNameError` listing every valid name, so that a typo on
the command line is answered with the choices (the timm-style single-factory pattern).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """An unknown registry name; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want a readable sentence
        return str(self.args[0])


class Registry(Generic[T]):
    """Maps names to entries (usually factories). `kind` names the registry in error messages.

    Names may have a prefix form such as ``"torchvision:<model>"``: register ``"torchvision:"``
    with ``prefix=True`` and `get` returns that entry for any name starting with it.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._prefixes: dict[str, T] = {}

    def register(self, name: str, *, prefix: bool = False) -> Callable[[T], T]:
        """Decorator: ``@REGISTRY.register("lenet")`` registers the decorated object."""

        def add(entry: T) -> T:
            self.add(name, entry, prefix=prefix)
            return entry

        return add

    def add(self, name: str, entry: T, *, prefix: bool = False) -> None:
        table = self._prefixes if prefix else self._entries
        if name in table:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        table[name] = entry

    def get(self, name: str) -> T:
        if name in self._entries:
            return self._entries[name]
        for prefix, entry in self._prefixes.items():
            if name.startswith(prefix) and len(name) > len(prefix):
                return entry
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}; valid names: {', '.join(self.names())}"
        )

    def names(self) -> list[str]:
        """Registered names; prefix entries are shown as ``prefix<name>``."""
        return sorted(self._entries) + [f"{p}<name>" for p in sorted(self._prefixes)]

    def __contains__(self, name: object) -> bool:
        try:
            self.get(str(name))
        except UnknownNameError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._entries.items())
