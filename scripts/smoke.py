"""`make smoke IMAGE_REF=<name>@sha256:…`: prove a pushed image serves a real model correctly.

CI's smoke stage (and a laptop) run it after the build: a fresh model is trained from the
bundled digits dataset and registered in a throw-away Azurite; the image is pulled by digest;
its init container fetches and verifies the model, its own command serves it on loopback;
`/version` must name the expected revision (when given) and `/score` and `/predict` must
classify the known digits in `tests/data/` correctly. Exit 0 ok, 1 a failed check (exit codes
as every entry point: see `cliexit`).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from cliexit import EXIT_ERROR, ErrorCodes, run_argparse
from localworld.errors import LocalWorldError
from localworld.services import start_azurite
from modelstore.errors import ModelStoreError
from scripts.run_image import RunImageError, by_digest_reference, predict_with_image

ROOT = Path(__file__).resolve().parent.parent


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.smoke", description=__doc__)
    parser.add_argument("--image", required=True, help="image reference pinned by digest")
    parser.add_argument("--revision", help="the git sha /version must report")
    codes: ErrorCodes = {
        RunImageError: EXIT_ERROR,
        LocalWorldError: EXIT_ERROR,
        ModelStoreError: EXIT_ERROR,
    }
    return run_argparse(parser, argv, _smoke, tag="smoke", codes=codes)


def registry_authfile(image: str, environ: Mapping[str, str], directory: Path) -> Path | None:
    """REGISTRY_USERNAME/REGISTRY_PASSWORD (CI: the ACR token) as a containers auth file only
    this run reads (mode 600), so the token is never on a command line; None without them."""
    username, password = environ.get("REGISTRY_USERNAME"), environ.get("REGISTRY_PASSWORD")
    if not username or not password:
        return None
    host = image.split("/", 1)[0]
    path = directory / "registry-auth.json"
    path.touch(mode=0o600)
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": token}}}))
    return path


def _smoke(args: argparse.Namespace) -> int:
    by_digest_reference(args.image)  # refuse a tag-only reference before doing any work

    from examples.train import register, train, write_artifacts

    with tempfile.TemporaryDirectory(prefix="smoke-") as tmp:
        root = Path(tmp)
        azurite = start_azurite(root / "azurite", root / "logs")
        try:
            env = {
                **os.environ,
                "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
                "MODELSTORE_CONTAINER": "smoke",
            }
            os.environ.update(
                {k: env[k] for k in ("AZURE_STORAGE_CONNECTION_STRING", "MODELSTORE_CONTAINER")}
            )
            os.environ.pop("MODELSTORE_ACCOUNT_URL", None)
            result = train()
            write_artifacts(result, root / "model")
            manifest = register(root / "model", "digits", dict(result.metrics))
            served = predict_with_image(
                image=args.image,
                cache=ROOT / "build" / "image",
                model_name="digits",
                model_version=str(manifest.version),
                model_sha256=manifest.primary_sha256,
                env=env,
                workdir=root / "serve",
                authfile=registry_authfile(args.image, os.environ, root),
            )
        finally:
            azurite.process.stop()
    for line in served.lines:
        print(line)
    problems = []
    if not served.correct:
        problems.append("known digits misclassified")
    if args.revision and served.version.get("app", {}).get("revision") != args.revision:
        problems.append(f"/version revision is not {args.revision}")
    if served.version.get("model", {}).get("sha256") != manifest.primary_sha256:
        problems.append("/version does not report the pinned model sha256")
    for problem in problems:
        print(f"smoke: FAILED: {problem}", file=sys.stderr)
    if not problems:
        print("smoke: ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
