"""The local world: real services (Azurite, a distribution registry, bare Git remotes,
a local GitHub API) started on 127.0.0.1 for tests and the demo, each stopped by PID."""

from localworld.errors import LocalWorldError, ServiceStartError
from localworld.process import ServiceProcess, free_port

__all__ = ["LocalWorldError", "ServiceProcess", "ServiceStartError", "free_port"]
