"""The pod's front door (deploy/base/nginx.conf) run on this machine: the shipped configuration
with only its listen port, its upstream port and its scratch directory pointed at loopback ports
and a local directory, started as the proxy container starts it. Shared by tests/deploy and bench/.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "deploy" / "base" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


class ConfigShapeError(ValueError):
    """The shipped config no longer has exactly one listen and one upstream line to point."""


def render_config(conf: str, listen: int, upstream: int, scratch: Path) -> str:
    """The shipped config with its two ports and its scratch directory replaced."""
    out = conf.replace("/tmp/", f"{scratch}/")  # noqa: S108 (the config's paths, replaced)
    out, listens = re.subn(r"listen 8080;", f"listen 127.0.0.1:{listen};", out)
    out, upstreams = re.subn(r"server 127\.0\.0\.1:8081;", f"server 127.0.0.1:{upstream};", out)
    if (listens, upstreams) != (1, 1):
        raise ConfigShapeError(
            f"the shipped config changed shape: {listens} `listen 8080;` and {upstreams}"
            " `server 127.0.0.1:8081;` lines (expected one each)"
        )
    return out


def write_config(listen: int, upstream: int, scratch: Path) -> Path:
    """Render the shipped config into `scratch` (created) and return the file's path."""
    scratch.mkdir(parents=True, exist_ok=True)
    path = scratch / "nginx.conf"
    path.write_text(render_config(CONF.read_text(), listen, upstream, scratch))
    return path


def nginx_argv(conf: Path) -> list[str]:
    """As the proxy container runs it (-e: no default error log on the read-only filesystem)."""
    return [NGINX, "-c", str(conf), "-e", "stderr", "-g", "daemon off;"]
