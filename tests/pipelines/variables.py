"""Pipeline variables as an agent keeps them: case-insensitive names, secrets that are masked in
every log and never become environment variables by themselves, `$(Macro)` expansion, and the
`##vso[...]` logging commands a step prints."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


class PipelineError(Exception):
    """The pipeline uses a construct the runner does not implement, or is malformed."""


@dataclass
class Variable:
    value: str
    secret: bool = False
    read_only: bool = False


@dataclass
class Variables:
    """One scope's variables (pipeline -> stage -> job, copied down)."""

    items: dict[str, tuple[str, Variable]] = field(default_factory=dict)  # lower -> (name, var)

    def copy(self) -> Variables:
        return Variables(dict(self.items))

    def set(self, name: str, value: str, *, secret: bool = False, read_only: bool = False) -> None:
        old = self.items.get(name.lower())
        if old and old[1].read_only:
            raise PipelineError(f"variable {name} is read-only")
        # Once secret, always secret (the agent keeps masking it).
        secret = secret or bool(old and old[1].secret)
        self.items[name.lower()] = (name, Variable(value, secret, read_only))

    def get(self, name: str) -> str | None:
        found = self.items.get(name.lower())
        return found[1].value if found else None

    def plain(self) -> dict[str, str]:
        """Every variable's value by name (conditions see secrets too)."""
        return {name: var.value for name, var in self.items.values()}

    def secrets(self) -> list[str]:
        return [var.value for _, var in self.items.values() if var.secret and var.value]

    def environment(self) -> dict[str, str]:
        """Non-secret variables as the agent exports them: `Build.BuildId` -> `BUILD_BUILDID`."""
        return {env_name(name): var.value for name, var in self.items.values() if not var.secret}


def env_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name).upper()


_MACRO = re.compile(r"\$\(([A-Za-z0-9_.\-]+)\)")


def expand(text: str, variables: Variables) -> str:
    """Replace `$(Name)` with the variable's value; an undefined macro stays as written
    (what Azure DevOps does). `${{ }}` and `$[ ]` are not implemented here: an error."""
    if "${{" in text:
        raise PipelineError(f"template expressions ${{{{ }}}} are not supported: {text[:80]!r}")
    if "$[" in text:
        raise PipelineError(f"runtime expressions $[ ] are not supported: {text[:80]!r}")

    def one(match: re.Match[str]) -> str:
        value = variables.get(match.group(1))
        return match.group(0) if value is None else value

    return _MACRO.sub(one, text)


def mask(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


@dataclass(frozen=True)
class LoggingCommand:
    area: str
    action: str
    properties: Mapping[str, str]
    data: str


_COMMAND = re.compile(r"##vso\[(?P<area>[a-z]+)\.(?P<action>[a-z]+)(?P<props>[^\]]*)\](?P<data>.*)")


def _unescape(value: str) -> str:
    return (
        value.replace("%3B", ";")
        .replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%5D", "]")
        .replace("%25", "%")
    )


def parse_logging_command(line: str) -> LoggingCommand | None:
    """`##vso[area.action k=v;k=v]data` anywhere in a line (as the agent scans), else None."""
    start = line.find("##vso[")
    if start < 0:
        return None
    match = _COMMAND.match(line[start:].rstrip("\r\n"))
    if not match:
        raise PipelineError(f"malformed logging command: {line.strip()!r}")
    props: dict[str, str] = {}
    for part in match["props"].strip().split(";"):
        if not part.strip():
            continue
        key, eq, value = part.strip().partition("=")
        if not eq:
            raise PipelineError(f"logging command property without a value: {line.strip()!r}")
        props[key.strip().lower()] = _unescape(value.strip())
    return LoggingCommand(match["area"], match["action"], props, _unescape(match["data"]))


def as_bool(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"
