"""Errors of the local world."""


class LocalWorldError(Exception):
    """Base class for every local-world failure."""


class ServiceStartError(LocalWorldError):
    """A service did not become ready in time; carries its name and log tail."""

    def __init__(self, name: str, reason: str, log_tail: str) -> None:
        self.name = name
        self.reason = reason
        self.log_tail = log_tail
        super().__init__(
            f"{name} failed to start: {reason}\n--- last lines of its log ---\n{log_tail}"
        )


class ToolMissingError(LocalWorldError):
    """A program the local world needs is not installed."""

    def __init__(self, tool: str, hint: str) -> None:
        super().__init__(f"{tool} not found; {hint}")
