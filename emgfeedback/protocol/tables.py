"""Strict reading of TOML tables for protocol files (split from :mod:`.schema`).

:class:`_Table` reads one table, checking each value's type and range and remembering which
keys were used, so unknown keys can be reported; :class:`_Context` carries the file name for
messages and the ``"$name"`` parameter values. Every problem raises
:class:`~emgfeedback.errors.ProtocolError` naming the file, the key path and the fix.
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Any

from emgfeedback import bounds
from emgfeedback.errors import ProtocolError


class _Table:
    """Reads one TOML table, checking types and remembering which keys were used."""

    def __init__(self, data: Any, path: str, ctx: _Context):
        self.ctx = ctx
        self.path = path
        if not isinstance(data, dict):
            ctx.fail(path, f"expected a table, got {_tname(data)}",
                     "write it as a [table] or { key = value } inline table")
        self.data = data
        self.used: set[str] = set()

    def key(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        self.used.add(key)
        return self.data.get(key)

    def text(self, key: str, default: Any = ..., choices: tuple[str, ...] | None = None,
            pattern: re.Pattern | None = None, fix: str = "") -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                self.ctx.fail(self.key(key), "missing required key", fix or f"add {key} = \"...\"")
            return default
        value = self.data[key]
        if not isinstance(value, str):
            self.ctx.fail(self.key(key), f"expected a string, got {_tname(value)}",
                          f"write it in quotes, e.g. {key} = \"{value}\"")
        if choices is not None and value not in choices:
            self.ctx.fail(self.key(key), f"unknown value {value!r}",
                          f"use one of: {', '.join(choices)}" + _suggest(value, choices))
        if pattern is not None and not pattern.match(value):
            self.ctx.fail(self.key(key), f"invalid value {value!r}", fix)
        return value

    def num(self, key: str, default: Any = ..., *, minimum: float | None = None,
            positive: bool = False, maximum: float | None = None, integer: bool = False,
            fix: str = "") -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                self.ctx.fail(self.key(key), "missing required key",
                              fix or f"add {key} = <number>")
            return default
        value = self.ctx.resolve(self.data[key], self.key(key))
        kind = "an integer" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                integer and not isinstance(value, int)):
            self.ctx.fail(self.key(key), f"expected {kind}, got {_tname(value)}",
                          f"write {key} = <{'integer' if integer else 'number'}> without quotes"
                          " (or \"$name\" to use a parameter)")
        if not math.isfinite(value):
            self.ctx.fail(self.key(key), f"{value} is not a finite number", "use a finite number")
        if positive and value <= 0:
            self.ctx.fail(self.key(key), f"must be greater than 0, got {value}",
                          fix or "use a positive value")
        if minimum is not None and value < minimum:
            self.ctx.fail(self.key(key), f"must be at least {minimum:g}, got {value}",
                          fix or f"use a value >= {minimum:g}")
        if maximum is not None and value > maximum:
            self.ctx.fail(self.key(key), f"must be at most {maximum:g}, got {value}",
                          fix or f"use a value <= {maximum:g}")
        _check_magnitude(self.ctx, self.key(key), value)
        return value if integer else float(value)

    def str_list(self, key: str, default: Any, choices: tuple[str, ...] | None = None) -> Any:
        self.used.add(key)
        if key not in self.data:
            return default
        value = self.data[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.ctx.fail(self.key(key), f"expected a list of strings, got {_tname(value)}",
                          f"write {key} = [\"a\", \"b\"]")
        if choices is not None:
            for i, v in enumerate(value):
                if v not in choices:
                    self.ctx.fail(f"{self.key(key)}[{i}]", f"unknown value {v!r}",
                                  f"use one of: {', '.join(choices)}" + _suggest(v, choices))
        return tuple(value)

    def tables(self, key: str, required: bool, max_count: int | None = None) -> list[_Table]:
        self.used.add(key)
        if key not in self.data:
            if required:
                self.ctx.fail(self.key(key), "missing required key",
                              f"add at least one [[{self.key(key)}]] table")
            return []
        value = self.data[key]
        if not isinstance(value, list):
            self.ctx.fail(self.key(key), f"expected an array of tables, got {_tname(value)}",
                          f"write each entry as a [[{self.key(key)}]] table")
        if required and not value:
            self.ctx.fail(self.key(key), "is empty", "add at least one entry")
        if max_count is not None and len(value) > max_count:
            self.ctx.fail(self.key(key), f"{len(value)} entries is too many",
                          f"use at most {max_count}")
        return [_Table(v, f"{self.key(key)}[{i}]", self.ctx) for i, v in enumerate(value)]

    def finish(self, allowed: tuple[str, ...] | None = None) -> None:
        for key in self.data:
            if key not in self.used:
                known = sorted(self.used if allowed is None else allowed)
                self.ctx.fail(self.key(key), "unknown key",
                              f"remove it or use one of: {', '.join(known)}" + _suggest(key, known))


def _tname(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return {str: "a string", int: "an integer", float: "a number", list: "an array",
            dict: "a table"}.get(type(value), type(value).__name__)


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Context:
    """File name for messages and the parameter values for ``"$name"`` references."""

    def __init__(self, file: str):
        self.file = file
        self.params: dict[str, float] = {}

    def fail(self, keypath: str, problem: str, fix: str) -> None:
        where = f"{self.file}: {keypath}" if keypath else self.file
        raise ProtocolError(f"{where}: {problem}; fix: {fix}")

    def resolve(self, value: Any, keypath: str) -> Any:
        if isinstance(value, str) and value.startswith("$"):
            name = value[1:]
            if name not in self.params:
                self.fail(keypath, f"refers to undefined parameter {value!r}",
                          "define it under [parameters] or use a number"
                          + _suggest(name, self.params))
            return self.params[name]
        return value



def _check_magnitude(ctx: _Context, keypath: str, value: float) -> None:
    rng = bounds.PROTOCOL_NUMBER
    if not math.isfinite(value) or not rng.low <= value <= rng.high:
        ctx.fail(keypath, f"{value} is out of range", f"use a number from {rng.describe()}")
