"""Build the service image with buildah from a local Debian base, push it, record its digest.

    python -m scripts.build_image                      # registry from .localworld/env
    python -m scripts.build_image --registry 127.0.0.1:5000 --tag 0.1.0-42-abc1234
    python -m scripts.build_image --image myacr.azurecr.io/modelops-app --tag T \
        --digest-file out/digest --revision SHA --version 0.1.0 --source URL
    python -m scripts.build_image --wheelhouse-only    # only build/image/wheelhouse (CI's
                                                       # Docker build then copies it)
    python -m scripts.build_image --base-only          # only the Debian base image (cached)

`make image` maps IMAGE_REPO, IMAGE_TAG, IMAGE_DIGEST_FILE, APP_VERSION, APP_REVISION,
IMAGE_SOURCE and MODEL_INPUT_SIGNATURE onto these flags. TLS is verified for every registry
except one on loopback (the local world's plain-HTTP registry).

No Docker daemon and no Docker Hub here, so:
1. the base image is Debian bookworm (its python3 is 3.11) made by `mmdebstrap` and imported
   into buildah's own storage under `build/image/` (cached: rebuilt only when its recipe changes);
2. Python packages come from a wheelhouse made on the host with `pip wheel`, pinned to the
   versions installed in this venv (cached by the pins), so the image holds the tested versions
   and its build never reaches an index;
3. `buildah bud --storage-driver vfs --isolation chroot --format docker` builds the Dockerfile
   (docker format keeps the HEALTHCHECK), `buildah push` sends it to the registry and writes the
   manifest digest, recorded in `build/image/last-build.json`.

Why one module over 450 lines: it is one build, step after step (base, wheelhouse, buildah
build, push, digest), each a function, read top to bottom like the pipeline step it serves.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import hashlib
import importlib.metadata
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cliexit import EXIT_ERROR, EXIT_OK, run_argparse

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "image"
REPOSITORY = "modelops-app"
DEFAULT_SIGNATURE = "input:float32[?,64]"

# The base: Debian bookworm, python3 (3.11), CA certificates for Azure, libstdc++ for
# onnxruntime, nginx for the pod's buffering proxy container (deploy/base/nginx.conf). Docs, man
# pages and translations are left out to keep it small.
BASE_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "ca-certificates", "libstdc++6", "nginx-light")
BASE_MIRRORS = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
BASE_DPKG_OPTS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
)

# What the image runs (requirements-image.txt, also what a plain `docker build .` installs),
# pinned below to the versions installed here.
IMAGE_REQUIREMENTS = ROOT / "requirements-image.txt"


def runtime_distributions(text: str) -> tuple[str, ...]:
    """The distribution names of requirements-image.txt (comments and ranges dropped)."""
    names = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            names.append(re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0])
    return tuple(names)


RUNTIME_DISTRIBUTIONS = runtime_distributions(IMAGE_REQUIREMENTS.read_text())


class BuildError(Exception):
    """A step failed; the message names the step and the tail of its output."""


@dataclass(frozen=True)
class BuildSpec:
    registry: str
    tag: str
    revision: str
    version: str
    created: str
    repository: str = REPOSITORY
    signature: str = DEFAULT_SIGNATURE
    # org.opencontainers.image.source: where the revision can be fetched (the CI's repository
    # URL, or this checkout's `origin`); "unknown" when neither is known, never a made-up URL.
    source: str = "unknown"
    cache: Path = CACHE
    context: Path = ROOT
    push: bool = True
    # Keep the built image in buildah's storage after pushing (the slow test runs it); otherwise
    # it is removed once pushed, so only the base image stays cached under build/.
    keep_local: bool = False
    # Where the pushed manifest digest is written (CI publishes it as an artifact).
    digest_file: Path | None = None

    @property
    def reference(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"


@dataclass
class BuildResult:
    reference: str
    digest: str | None
    image_id: str
    base: str
    timings: dict[str, float] = field(default_factory=dict)


# --- pure parts -------------------------------------------------------------------------------


def storage_args(cache: Path) -> list[str]:
    """buildah's global flags: its own storage under build/, the vfs driver (no fuse/overlay)."""
    return [
        "--root",
        str(cache / "storage"),
        "--runroot",
        str(cache / "run"),
        "--storage-driver",
        "vfs",
    ]


def base_key() -> str:
    recipe = json.dumps([BASE_SUITE, BASE_PACKAGES, BASE_MIRRORS, BASE_DPKG_OPTS, "v1"])
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def base_image_name() -> str:
    return f"localhost/modelops-base:{BASE_SUITE}-{base_key()}"


def mmdebstrap_argv(tarball: Path) -> list[str]:
    argv = ["mmdebstrap", "--quiet", "--variant=essential", "--mode=root", "--format=tar"]
    argv.append("--include=" + ",".join(BASE_PACKAGES))
    argv += [f"--dpkgopt={opt}" for opt in BASE_DPKG_OPTS]
    argv += [BASE_SUITE, str(tarball), *BASE_MIRRORS]
    return argv


def pinned_requirements() -> list[str]:
    """`name==version` for each runtime distribution, as installed in this interpreter."""
    pins = []
    for name in RUNTIME_DISTRIBUTIONS:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            raise BuildError(f"{name} is not installed here: run `make setup` first") from None
    return pins


def constraints() -> list[str]:
    """Every installed distribution pinned, so transitive dependencies match the tested venv."""
    lines = []
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and name.lower() not in {"modelops", "pip", "setuptools", "wheel"}:
            lines.append(f"{name}=={dist.version}")
    return sorted(set(lines), key=str.lower)


def bud_argv(spec: BuildSpec, base: str, wheelhouse: Path) -> list[str]:
    build_args = {
        "BASE_IMAGE": base,
        "WHEELHOUSE": str(wheelhouse.relative_to(spec.context)),
        "MODEL_INPUT_SIGNATURE": spec.signature,
        "REVISION": spec.revision,
        "VERSION": spec.version,
        "CREATED": spec.created,
        "SOURCE": spec.source,
    }
    argv = ["buildah", *storage_args(spec.cache), "bud", "--isolation", "chroot"]
    argv += ["--format", "docker", "--pull=never", "--layers=false", "--quiet"]
    for key, value in build_args.items():
        argv += ["--build-arg", f"{key}={value}"]
    argv += ["--file", str(spec.context / "Dockerfile"), "--tag", spec.reference]
    argv.append(str(spec.context))
    return argv


def default_tag(version: str, build: str, revision: str) -> str:
    """`<semver>-<build>-<short sha>`: the form promotion.yaml's dev tag policy orders by."""
    return f"{version}-{build}-{revision[:7]}"


def is_loopback_registry(registry: str) -> bool:
    """`127.x.x.x[:port]`, `localhost[:port]` or `[::1][:port]`: the only registries pushed to
    or pulled from without TLS verification (the local world's registry speaks plain HTTP)."""
    host = registry.split("/", 1)[0]
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tls_verify_flag(registry: str) -> str:
    """buildah's `--tls-verify`: on by default, off only for a loopback registry."""
    return f"--tls-verify={'false' if is_loopback_registry(registry) else 'true'}"


def split_image(image: str) -> tuple[str, str]:
    """`host[:port]/path/name` -> (`host[:port]`, `path/name`); the registry part is required."""
    registry, slash, repository = image.partition("/")
    if (
        not slash
        or not repository
        or not ("." in registry or ":" in registry or registry == "localhost")
    ):
        raise BuildError(f"--image {image!r} must be <registry host>/<repository>")
    if ":" in repository or "@" in repository:
        raise BuildError(f"--image {image!r} must not carry a tag or digest (use --tag)")
    return registry, repository


# --- shell ------------------------------------------------------------------------------------


def _run(argv: Sequence[str], step: str, timeout: float = 900) -> str:
    try:
        result = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise BuildError(f"{step}: {argv[0]} is not installed (run `make setup-debian`)") from None
    except subprocess.TimeoutExpired:
        raise BuildError(f"{step}: timed out after {timeout:.0f}s") from None
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise BuildError(f"{step} failed (exit {result.returncode}):\n{tail}")
    return result.stdout


@contextmanager
def _locked(cache: Path) -> Iterator[None]:
    """One build at a time per cache (make image and the slow test may overlap)."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _image_exists(cache: Path, name: str) -> bool:
    result = subprocess.run(
        ["buildah", *storage_args(cache), "inspect", "--type", "image", name],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def remove_image(cache: Path, name: str) -> None:
    _run(["buildah", *storage_args(cache), "rmi", "--force", name], "buildah rmi")


def ensure_base(cache: Path) -> str:
    """The base image in buildah's storage; made with mmdebstrap only when its recipe changed."""
    name = base_image_name()
    if _image_exists(cache, name):
        return name
    tarball = cache / f"base-{BASE_SUITE}-{base_key()}.tar"
    if not tarball.exists():
        partial = tarball.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        _run(mmdebstrap_argv(partial), "mmdebstrap")
        partial.replace(tarball)
    buildah = ["buildah", *storage_args(cache)]
    container = _run([*buildah, "from", "scratch"], "buildah from scratch").strip()
    try:
        _run([*buildah, "add", "--quiet", container, str(tarball), "/"], "buildah add base")
        _run(
            [
                *buildah,
                "config",
                "--env",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--env",
                "LANG=C.UTF-8",
                "--cmd",
                "python3",
                "--label",
                f"io.modelops.base.recipe={base_key()}",
                container,
            ],
            "buildah config base",
        )
        _run([*buildah, "commit", "--quiet", "--rm", container, name], "buildah commit base")
    except BuildError:
        subprocess.run([*buildah, "rm", container], capture_output=True, check=False)
        raise
    # The tarball is only a step towards the imported image; the image is the cache.
    tarball.unlink(missing_ok=True)
    return name


def ensure_wheelhouse(cache: Path) -> Path:
    """build/image/wheelhouse: runtime wheels pinned to this venv, plus pip (the installer)."""
    wheelhouse = cache / "wheelhouse"
    requirements = "\n".join(pinned_requirements()) + "\n"
    constraint_text = "\n".join(constraints()) + "\n"
    pip_version = importlib.metadata.version("pip")
    key = hashlib.sha256((requirements + constraint_text + pip_version).encode()).hexdigest()
    stamp = wheelhouse / ".stamp"
    if stamp.exists() and stamp.read_text() == key:
        return wheelhouse
    wheelhouse.mkdir(parents=True, exist_ok=True)
    for old in wheelhouse.glob("*.whl"):
        old.unlink()
    (wheelhouse / "requirements.txt").write_text(requirements)
    constraints_file = cache / "constraints.txt"
    constraints_file.write_text(constraint_text)
    pip = [sys.executable, "-m", "pip"]
    _run(
        [
            *pip,
            "wheel",
            "--quiet",
            "--only-binary=:all:",
            "--wheel-dir",
            str(wheelhouse),
            "--requirement",
            str(wheelhouse / "requirements.txt"),
            "--constraint",
            str(constraints_file),
        ],
        "pip wheel",
    )
    _run(
        [
            *pip,
            "download",
            "--quiet",
            "--no-deps",
            "--dest",
            str(wheelhouse),
            f"pip=={pip_version}",
        ],
        "pip download pip",
    )
    stamp.write_text(key)
    return wheelhouse


def stage_wheelhouse(wheelhouse: Path, context: Path) -> Path:
    """The wheelhouse as seen from the build context.

    A context other than this checkout (e.g. a CI clone at another commit) gets a hard-linked
    copy at the same relative place, so the Dockerfile's `COPY ${WHEELHOUSE}` finds it.
    """
    if wheelhouse.resolve().is_relative_to(context.resolve()):
        return wheelhouse
    staged = context / wheelhouse.relative_to(ROOT)
    if staged.exists():
        shutil.rmtree(staged)
    shutil.copytree(wheelhouse, staged, copy_function=os.link)
    return staged


def build_and_push(spec: BuildSpec) -> BuildResult:
    timings: dict[str, float] = {}
    with _locked(spec.cache):
        started = time.perf_counter()
        base = ensure_base(spec.cache)
        timings["base"] = time.perf_counter() - started

        started = time.perf_counter()
        wheelhouse = ensure_wheelhouse(spec.cache)
        timings["wheelhouse"] = time.perf_counter() - started

        wheelhouse = stage_wheelhouse(wheelhouse, spec.context)
        started = time.perf_counter()
        image_id = _run(bud_argv(spec, base, wheelhouse), "buildah bud").strip().splitlines()[-1]
        timings["build"] = time.perf_counter() - started

        digest = None
        if spec.push:
            started = time.perf_counter()
            digest_file = spec.cache / "digest"
            digest_file.unlink(missing_ok=True)
            _run(
                [
                    "buildah",
                    *storage_args(spec.cache),
                    "push",
                    "--quiet",
                    tls_verify_flag(spec.registry),
                    "--digestfile",
                    str(digest_file),
                    spec.reference,
                    f"docker://{spec.reference}",
                ],
                "buildah push",
            )
            digest = digest_file.read_text().strip()
            timings["push"] = time.perf_counter() - started
            if not spec.keep_local:
                remove_image(spec.cache, spec.reference)
        result = BuildResult(spec.reference, digest, image_id, base, timings)
        record = spec.cache / "last-build.json"
        record.write_text(json.dumps(asdict(result), indent=2) + "\n")
        if digest and spec.digest_file is not None:
            write_atomically(spec.digest_file, digest + "\n")
        return result


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` whole or not at all (a reader never sees half a digest)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def _git(*args: str) -> str:
    return _run(["git", "-C", str(ROOT), *args], f"git {args[0]}").strip()


def _project_version() -> str:
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return str(data["project"]["version"])


def _origin_url() -> str:
    """This checkout's `origin` when it is a plain https URL (no credentials), else unknown."""
    result = subprocess.run(
        ["git", "-C", str(ROOT), "remote", "get-url", "origin"],
        capture_output=True,
        text=True,
        check=False,
    )
    url = result.stdout.strip()
    if result.returncode == 0 and url.startswith("https://") and "@" not in url:
        return url
    return "unknown"


def _registry_from_localworld() -> str | None:
    from localworld.world import read_env

    directory = Path(os.environ.get("LW_DIR", str(ROOT / ".localworld")))
    try:
        return read_env(directory).get("REGISTRY_HOST")
    except Exception:  # no local world running: the caller says what to do
        return None


def build_number(environ: Mapping[str, str]) -> str | None:
    """Azure DevOps' `Build.BuildId` (env BUILD_BUILDID), or BUILD_NUMBER; None locally."""
    return environ.get("BUILD_BUILDID") or environ.get("BUILD_NUMBER") or None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.build_image",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--registry", help="host:port (default: REGISTRY_HOST of .localworld/env)")
    where.add_argument("--image", help="<registry>/<repository> (make image: IMAGE_REPO)")
    parser.add_argument("--repository", help=f"with --registry (default {REPOSITORY})")
    parser.add_argument(
        "--tag", help="default <version>-<Build.BuildId or commit count>-<short sha>"
    )
    parser.add_argument("--digest-file", type=Path, help="write the pushed digest here")
    parser.add_argument("--version", dest="app_version", help="default: pyproject's version")
    parser.add_argument("--revision", help="default: git rev-parse HEAD")
    parser.add_argument("--source", help="default: origin's https URL, else 'unknown'")
    parser.add_argument("--signature", default=DEFAULT_SIGNATURE)
    parser.add_argument("--no-push", action="store_true")
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be built as JSON and stop"
    )
    parser.add_argument(
        "--base-only",
        action="store_true",
        help="only make the Debian base image in build/image's storage (cached), print its name",
    )
    parser.add_argument(
        "--wheelhouse-only",
        action="store_true",
        help="only make build/image/wheelhouse (for a Docker build elsewhere), print its path",
    )
    return parser


def spec_from_args(argv: Sequence[str] | None) -> BuildSpec:
    return spec_from_namespace(_parser().parse_args(argv))


def spec_from_namespace(args: argparse.Namespace) -> BuildSpec:
    parser = _parser()
    if args.image:
        if args.repository:
            parser.error("--repository goes with --registry; --image already names it")
        try:
            registry, repository = split_image(args.image)
        except BuildError as exc:
            parser.error(str(exc))
    else:
        registry = (
            args.registry or os.environ.get("REGISTRY_HOST") or _registry_from_localworld() or ""
        )
        repository = args.repository or REPOSITORY
    if not registry:
        parser.error(
            "no registry: pass --registry host:port (or --image host/repo), "
            "or run `make services-up` first"
        )
    revision = args.revision or _git("rev-parse", "HEAD")
    if not re.fullmatch(r"[0-9a-f]{40}", revision):
        parser.error(f"--revision {revision!r} is not a full git sha")
    version = args.app_version or _project_version()
    if args.tag:
        tag = args.tag
    else:
        build = build_number(os.environ) or _git("rev-list", "--count", "HEAD")
        tag = default_tag(version, build, revision)
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag):
        parser.error(f"--tag {tag!r} is not a valid image tag")
    return BuildSpec(
        registry=registry,
        tag=tag,
        revision=revision,
        version=version,
        created=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        repository=repository,
        signature=args.signature,
        source=args.source or _origin_url(),
        push=not args.no_push,
        digest_file=args.digest_file,
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_argparse(_parser(), argv, _build, tag="build_image", codes={BuildError: EXIT_ERROR})


def _build(args: argparse.Namespace) -> int:
    if args.base_only:
        with _locked(CACHE):
            print(ensure_base(CACHE))
        return EXIT_OK
    if args.wheelhouse_only:
        with _locked(CACHE):
            print(ensure_wheelhouse(CACHE))
        return EXIT_OK
    spec = spec_from_namespace(args)
    if args.dry_run:
        print(json.dumps({**asdict(spec), "reference": spec.reference}, default=str))
        return EXIT_OK
    result = build_and_push(spec)
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
    print(f"built {result.reference} ({timing})")
    if result.digest:
        print(f"pushed {result.reference}@{result.digest}")
        if spec.digest_file is not None:
            print(f"digest written to {spec.digest_file}")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
