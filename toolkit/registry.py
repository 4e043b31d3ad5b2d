"""One small registry per extension point (providers' transports, methods, metrics, datasets, strategies).

Entries are lazy ``"module:attr"`` strings so choosing a name is what imports heavy code, and a typo gets a
"did you mean" answer instead of a KeyError.
"""

import difflib
from collections.abc import Iterator
from importlib import import_module
from typing import Any


class UnknownNameError(KeyError):
    """A name that is not registered; the message lists the closest registered names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, str | Any] = {}

    def register(self, name: str, target: str | Any) -> None:
        """Register ``target`` (an object or a lazy ``"module:attr"`` string) under ``name``."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = target

    def get(self, name: str) -> Any:
        if name not in self._entries:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}.{did_you_mean(name, self.names())}"
                f" Known {self.kind}s: {', '.join(self.names())}."
            )
        target = self._entries[name]
        if isinstance(target, str) and ":" in target:
            module, attr = target.split(":", 1)
            target = getattr(import_module(module), attr)
            self._entries[name] = target
        return target

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def lazy_exports(namespace: dict[str, Any], exports: dict[str, str]):
    """``__getattr__`` and ``__dir__`` for the package whose ``globals()`` is ``namespace`` and which re-exports ``name -> "module:attr"`` on first use, so
    importing the package stays cheap (torch, vllm, mlflow load only when their names are touched)."""

    def __getattr__(name: str):
        target = exports.get(name)
        if target is None:
            raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
        module, attr = target.split(":")
        return getattr(import_module(module), attr)

    def __dir__():
        return sorted({*namespace, *exports})

    return __getattr__, __dir__
