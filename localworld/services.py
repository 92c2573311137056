"""The real services of the local world, each one factory returning a started ServiceProcess."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from localworld.errors import LocalWorldError, ToolMissingError
from localworld.process import LOOPBACK, ServiceProcess, free_port, tcp_open

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Azurite's documented, public development account (not a secret: it is the same everywhere).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def http_status(url: str, timeout: float = 1.0) -> int | None:
    """Status of a GET to a loopback URL, or None when nothing answers."""
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise LocalWorldError(f"refusing to probe non-loopback URL {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback only)
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


def azurite_binary() -> Path:
    path = PROJECT_ROOT / "node_modules" / ".bin" / "azurite-blob"
    if not path.exists():
        raise ToolMissingError("azurite-blob", "run `make setup` (npm ci installs it)")
    return path


@dataclass(frozen=True)
class Azurite:
    process: ServiceProcess
    port: int

    @property
    def blob_endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/{AZURITE_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )


def start_azurite(data_dir: Path, log_dir: Path, port: int | None = None) -> Azurite:
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        str(azurite_binary()),
        "--blobHost",
        LOOPBACK,
        "--blobPort",
        str(port),
        "--location",
        str(data_dir),
        "--skipApiVersionCheck",
        "--loose",
        "--silent",
        "--disableTelemetry",
    ]
    proc = ServiceProcess(
        name="azurite",
        argv=argv,
        log_path=log_dir / "azurite.log",
        # Azurite answers 400 to a bare GET on the account: that is "up".
        ready=lambda: (
            http_status(f"http://{LOOPBACK}:{port}/{AZURITE_ACCOUNT}?comp=list") is not None
        ),
    ).start()
    return Azurite(proc, port)


def registry_binary() -> str:
    found = shutil.which("docker-registry") or (
        "/usr/bin/docker-registry" if Path("/usr/bin/docker-registry").exists() else None
    )
    if not found:
        raise ToolMissingError("docker-registry", "install the Debian package docker-registry")
    return found


@dataclass(frozen=True)
class Registry:
    process: ServiceProcess
    port: int

    @property
    def host(self) -> str:
        """host:port, the registry part of an image reference."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"


def registry_config(root: Path, port: int, htpasswd: Path | None = None) -> dict[str, object]:
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "info", "fields": {"service": "registry"}},
        "storage": {"filesystem": {"rootdirectory": str(root)}, "delete": {"enabled": True}},
        "http": {"addr": f"{LOOPBACK}:{port}", "headers": {"X-Content-Type-Options": ["nosniff"]}},
    }
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": "localworld", "path": str(htpasswd)}}
    return config


def start_registry(
    data_dir: Path, log_dir: Path, port: int | None = None, htpasswd: Path | None = None
) -> Registry:
    """A Docker distribution registry (OCI distribution API) storing into `data_dir`."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    config_path = data_dir / "config.yml"
    # JSON is valid YAML: no YAML writer needed for a generated file.
    config_path.write_text(json.dumps(registry_config(data_dir / "storage", port, htpasswd)))
    proc = ServiceProcess(
        name="registry",
        argv=[registry_binary(), "serve", str(config_path)],
        log_path=log_dir / "registry.log",
        ready=lambda: tcp_open(port) and http_status(f"http://{LOOPBACK}:{port}/v2/") is not None,
    ).start()
    return Registry(proc, port)


def init_bare_repo(path: Path, default_branch: str = "main") -> Path:
    """A bare Git repository usable as a push/pull remote by file path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["git", "init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(path)],
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        raise LocalWorldError(f"git init --bare {path} failed: {exc.stderr.strip()}") from exc
    return path
