"""`az` on the test agent's PATH: the few Azure CLI commands the pipeline runs, answered for
the local world. Standard library only (it runs with the agent's /usr/bin/python3).

Logged in only inside an AzureCLI@2 step (the task's session: AZURE_CONFIG_DIR holds
standin-session.json with the service connection's registry), like the real task:

    az acr show --name N --query loginServer -o tsv
    az acr login --name N --expose-token [--query accessToken -o tsv]
    az acr repository show --name N --image repo:tag [--query digest -o tsv]
    az account show
    az account get-access-token --resource R   (what AzureCliCredential runs: an Azure AD
        access token for R, which Azurite's `--oauth basic` accepts; unsigned: this is no
        identity provider)

Anything else exits 2 naming the command, never pretends to succeed.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ACR_USER = "00000000-0000-0000-0000-000000000000"
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.oci.image.index.v1+json"
)


def _fail(message: str, code: int = 1) -> int:
    print(f"ERROR: {message}", file=sys.stderr)
    return code


def _options(args: list[str]) -> tuple[list[str], dict[str, str]]:
    words: list[str] = []
    options: dict[str, str] = {}
    flags = {"--expose-token", "--only-show-errors"}
    aliases = {"-n": "--name", "-o": "--output", "-g": "--resource-group"}
    while args:
        arg = args.pop(0)
        arg = aliases.get(arg, arg)
        if arg in flags:
            options[arg] = "true"
        elif arg.startswith("--"):
            if not args:
                raise SystemExit(_fail(f"argument {arg}: expected one argument", 2))
            options[arg] = args.pop(0)
        else:
            words.append(arg)
    return words, options


def _emit(value: dict[str, Any], options: dict[str, str]) -> int:
    query = options.get("--query")
    result: Any = value
    if query is not None:
        if query not in value:
            return _fail(f"the stand-in answers --query only for {sorted(value)}, not {query!r}", 2)
        result = value[query]
    if options.get("--output", "json") == "tsv":
        print(result if not isinstance(result, dict) else "\t".join(map(str, result.values())))
    else:
        print(json.dumps(result, indent=2))
    return 0


def _registry(session: dict[str, str], name: str) -> dict[str, str] | int:
    if name.lower() != session.get("acrName", "").lower():
        return _fail(
            f"The resource with name '{name}' and type 'Microsoft.ContainerRegistry/"
            "registries' could not be found in subscription.",
            3,
        )
    return session


def _digest(session: dict[str, str], image: str) -> str | int:
    repository, _, tag = image.partition(":")
    server = session["loginServer"]
    scheme = "http" if server.startswith(("127.", "localhost")) else "https"
    request = urllib.request.Request(  # noqa: S310 (http or https, built here)
        f"{scheme}://{server}/v2/{repository}/manifests/{tag or 'latest'}", method="HEAD"
    )
    request.add_header("Accept", MANIFEST_TYPES)
    basic = base64.b64encode(f"{ACR_USER}:{session['token']}".encode()).decode()
    request.add_header("Authorization", f"Basic {basic}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return str(response.headers["Docker-Content-Digest"])
    except urllib.error.HTTPError as exc:
        return _fail(f"manifest {image} in {server}: HTTP {exc.code}", 3)


def _access_token(session: dict[str, str], resource: str) -> dict[str, Any]:
    now = int(time.time())
    tenant = session.get("tenantId", "00000000-0000-0000-0000-0000000000ff")
    claims = {
        "aud": resource.rstrip("/") or "https://management.azure.com",
        "iss": f"https://sts.windows.net/{tenant}/",
        "iat": now,
        "nbf": now - 60,
        "exp": now + 3600,
        "oid": session.get("principalId", "00000000-0000-0000-0000-0000000000ee"),
        "tid": tenant,
    }

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    token = f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c3RhbmQtaW4"
    return {
        "accessToken": token,
        "expires_on": now + 3600,
        "expiresOn": time.strftime("%Y-%m-%d %H:%M:%S.000000", time.localtime(now + 3600)),
        "subscription": session["subscriptionId"],
        "tenant": tenant,
        "tokenType": "Bearer",
    }


def main(argv: list[str]) -> int:  # noqa: PLR0911 (one return per command)
    config = os.environ.get("AZURE_CONFIG_DIR")
    session_file = Path(config) / "standin-session.json" if config else None
    if session_file is None or not session_file.exists():
        return _fail("Please run 'az login' to setup account.")
    session: dict[str, str] = json.loads(session_file.read_text())
    words, options = _options(list(argv))
    command = " ".join(words)
    if command == "account get-access-token":
        return _emit(_access_token(session, options.get("--resource", "")), options)
    if command == "account show":
        return _emit(
            {
                "id": session["subscriptionId"],
                "name": session["subscription"],
                "user": {"type": "servicePrincipal"},
            },
            options,
        )
    if command in ("acr show", "acr login", "acr repository show"):
        found = _registry(session, options.get("--name", ""))
        if isinstance(found, int):
            return found
        if command == "acr show":
            return _emit(
                {"name": session["acrName"], "loginServer": session["loginServer"]}, options
            )
        if command == "acr login":
            if options.get("--expose-token") != "true":
                return _fail("the stand-in has no Docker daemon: use --expose-token", 2)
            return _emit(
                {"accessToken": session["token"], "loginServer": session["loginServer"]}, options
            )
        image = options.get("--image")
        if not image:
            return _fail("az acr repository show: --image is required here", 2)
        digest = _digest(session, image)
        if isinstance(digest, int):
            return digest
        return _emit({"digest": digest, "name": image.split(":")[-1]}, options)
    return _fail(f"'az {command}' is not answered by the az stand-in", 2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
