"""Each user-facing parameter is declared once; CLI flags and Natron knobs are generated from it.

A declaration is plain data (no argparse, no Natron), so the Natron side can receive it as JSON
(``faceplate params --json``) without importing the engine.
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping

from faceplate.errors import InputError

KINDS = ("float", "int", "bool", "choice", "string", "file")


@dataclass(frozen=True)
class Param:
    name: str  # python identifier: colour_match
    kind: str  # one of KINDS
    default: Any
    label: str
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["choices"] = list(self.choices)
        d["flag"] = self.flag
        return d

    def check(self, value: Any) -> Any:
        """Coerce and range-check ``value``; :class:`InputError` names the parameter."""
        try:
            if self.kind == "float":
                value = float(value)
            elif self.kind == "int":
                value = int(value)
            elif self.kind == "bool":
                if isinstance(value, str):
                    if value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                        raise ValueError(value)
                    value = value.lower() in ("1", "true", "yes", "on")
                value = bool(value)
            elif value is not None:
                value = str(value)
        except (TypeError, ValueError):
            raise InputError(f"{self.flag}: expected a {self.kind}, found {value!r}") from None
        if self.kind == "choice" and value not in self.choices:
            raise InputError(f"{self.flag}: expected one of {', '.join(self.choices)}, found {value!r}")
        if self.kind in ("float", "int"):
            if self.minimum is not None and value < self.minimum:
                raise InputError(f"{self.flag}: expected >= {self.minimum}, found {value}")
            if self.maximum is not None and value > self.maximum:
                raise InputError(f"{self.flag}: expected <= {self.maximum}, found {value}")
        return value


def add_arguments(parser: argparse.ArgumentParser, params: Iterable[Param]) -> None:
    """Add one flag per parameter (values are checked later by :func:`collect`)."""
    for p in params:
        if p.kind == "bool":
            parser.add_argument(p.flag, dest=p.name, default=None, action=argparse.BooleanOptionalAction,
                                help=f"{p.help} (default: {p.default})")
        else:
            parser.add_argument(p.flag, dest=p.name, default=None, metavar=p.kind.upper(),
                                choices=list(p.choices) or None,
                                help=f"{p.help} (default: {p.default})")


def collect(params: Iterable[Param], values: Mapping[str, Any] | argparse.Namespace) -> dict[str, Any]:
    """Checked values for every parameter: given ones, else the declared default."""
    src = vars(values) if isinstance(values, argparse.Namespace) else dict(values)
    out = {}
    for p in params:
        v = src.get(p.name)
        out[p.name] = p.default if v is None else p.check(v)
    return out
