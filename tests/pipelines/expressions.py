"""Azure Pipelines condition expressions: the subset this project's YAML uses, evaluated the
way the service does (functions are case-insensitive, `eq`/`ne` compare strings ignoring case,
`variables['X']` reads a variable, an unknown function or syntax is an error, never `false`).

Grammar: expr := literal | variables['name'] | variables.name | name(expr, ...)
literal := 'string' ('' escapes a quote) | number | true | false
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Value = str | bool | float | None


class ExpressionError(Exception):
    """The condition cannot be parsed or uses a function the runner does not implement."""


@dataclass(frozen=True)
class Context:
    """What a condition can see: variables (case-insensitive) and the status checks."""

    variables: Mapping[str, str]
    # succeeded(): every dependency (stage/job) or every previous step succeeded.
    succeeded: bool
    failed: bool
    canceled: bool = False


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_.]*)"
    r"|(?P<punct>[(),\[\]]))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ExpressionError(f"cannot parse condition at {text[pos : pos + 20]!r}: {text!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _lookup(variables: Mapping[str, str], name: str) -> str:
    lowered = {k.lower(): v for k, v in variables.items()}
    # An undefined variable is an empty string in a condition (not the macro text).
    return lowered.get(name.lower(), "")


def _as_bool(value: Value) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, float):
        return value != 0
    return value != ""


def _as_str(value: Value) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return value


def _equal(a: Value, b: Value) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return _as_bool(a) == _as_bool(b)
    if isinstance(a, float) or isinstance(b, float):
        try:
            return float(_as_str(a)) == float(_as_str(b))
        except ValueError:
            return False
    return _as_str(a).lower() == _as_str(b).lower()


class _Parser:
    def __init__(self, text: str, ctx: Context) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0
        self.ctx = ctx

    def parse(self) -> Value:
        value = self.expr()
        if self.pos != len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.pos][1]!r} in {self.text!r}")
        return value

    def take(self, want: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise ExpressionError(f"condition ends too early: {self.text!r}")
        token = self.tokens[self.pos]
        if want is not None and token[1] != want:
            raise ExpressionError(f"expected {want!r}, got {token[1]!r} in {self.text!r}")
        self.pos += 1
        return token

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def expr(self) -> Value:
        kind, text = self.take()
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text)
        if kind != "name":
            raise ExpressionError(f"unexpected {text!r} in {self.text!r}")
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered == "variables" and self.peek() == "[":
            self.take("[")
            kind, name = self.take()
            if kind != "str":
                raise ExpressionError(f"variables[...] needs a quoted name: {self.text!r}")
            self.take("]")
            return _lookup(self.ctx.variables, name[1:-1])
        if lowered.startswith("variables."):
            return _lookup(self.ctx.variables, text.split(".", 1)[1])
        if self.peek() != "(":
            raise ExpressionError(f"{text!r} is not a function call or literal in {self.text!r}")
        self.take("(")
        args: list[Value] = []
        while self.peek() != ")":
            args.append(self.expr())
            if self.peek() == ",":
                self.take(",")
            elif self.peek() != ")":
                raise ExpressionError(f"expected ',' or ')' in {self.text!r}")
        self.take(")")
        return self.call(lowered, text, args)

    def call(self, name: str, original: str, args: list[Value]) -> Value:
        status: dict[str, Callable[[], bool]] = {
            "succeeded": lambda: self.ctx.succeeded,
            "failed": lambda: self.ctx.failed,
            "succeededorfailed": lambda: not self.ctx.canceled,
            "always": lambda: True,
            "canceled": lambda: self.ctx.canceled,
        }
        if name in status:
            if args:
                raise ExpressionError(
                    f"{original}() with arguments (named dependencies) is not supported by "
                    f"this runner: {self.text!r}"
                )
            return status[name]()
        binary: dict[str, Callable[[Value, Value], bool]] = {
            "eq": _equal,
            "ne": lambda a, b: not _equal(a, b),
            "startswith": lambda a, b: _as_str(a).lower().startswith(_as_str(b).lower()),
            "endswith": lambda a, b: _as_str(a).lower().endswith(_as_str(b).lower()),
            "contains": lambda a, b: _as_str(b).lower() in _as_str(a).lower(),
        }
        variadic: dict[str, tuple[int, Callable[[list[Value]], bool]]] = {
            "not": (1, lambda a: not _as_bool(a[0])),
            "and": (2, lambda a: all(_as_bool(v) for v in a)),
            "or": (2, lambda a: any(_as_bool(v) for v in a)),
            "in": (2, lambda a: any(_equal(a[0], o) for o in a[1:])),
            "notin": (2, lambda a: not any(_equal(a[0], o) for o in a[1:])),
        }
        if name in binary:
            if len(args) != 2:
                raise ExpressionError(f"{original}() takes 2 arguments: {self.text!r}")
            return binary[name](args[0], args[1])
        if name in variadic:
            least, function = variadic[name]
            if len(args) < least or (name == "not" and len(args) != 1):
                raise ExpressionError(f"{original}(): wrong number of arguments: {self.text!r}")
            return function(args)
        raise ExpressionError(
            f"function {original}() is not supported by this runner: {self.text!r}"
        )


def evaluate(condition: str, ctx: Context) -> bool:
    """The condition's truth value; ExpressionError for anything outside the subset."""
    if "${{" in condition or "$[" in condition:
        raise ExpressionError(f"template/runtime expressions are not supported: {condition!r}")
    return _as_bool(_Parser(condition, ctx).parse())
