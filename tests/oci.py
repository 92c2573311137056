"""Test helper: push tiny OCI images (config + one layer) to a real registry over HTTP."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import requests

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def push_blob(base: str, repo: str, data: bytes, headers: Mapping[str, str] | None = None) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    hdrs = dict(headers or {})
    start = requests.post(f"{base}/v2/{repo}/blobs/uploads/", headers=hdrs, timeout=10)
    assert start.status_code == 202, start.text
    location = start.headers["Location"]
    if location.startswith("/"):
        location = base + location
    sep = "&" if "?" in location else "?"
    done = requests.put(
        f"{location}{sep}digest={digest}",
        data=data,
        headers={**hdrs, "Content-Type": "application/octet-stream"},
        timeout=10,
    )
    assert done.status_code == 201, done.text
    return digest


def image_manifest(
    base: str,
    repo: str,
    labels: Mapping[str, str],
    arch: str = "amd64",
    headers: Mapping[str, str] | None = None,
) -> bytes:
    config = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "config": {"Labels": dict(labels)},
            "rootfs": {"type": "layers", "diff_ids": []},
        }
    ).encode()
    layer = b"layer " + arch.encode()
    config_digest = push_blob(base, repo, config, headers)
    layer_digest = push_blob(base, repo, layer, headers)
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest,
                    "size": len(layer),
                }
            ],
        }
    ).encode()


def put_manifest(
    base: str,
    repo: str,
    ref: str,
    body: bytes,
    *,
    media_type: str = OCI_MANIFEST,
    headers: Mapping[str, str] | None = None,
) -> str:
    resp = requests.put(
        f"{base}/v2/{repo}/manifests/{ref}",
        data=body,
        headers={**dict(headers or {}), "Content-Type": media_type},
        timeout=10,
    )
    assert resp.status_code == 201, resp.text
    return str(resp.headers["Docker-Content-Digest"])


def push_image(
    base: str,
    repo: str,
    tag: str,
    labels: Mapping[str, str],
    headers: Mapping[str, str] | None = None,
) -> str:
    return put_manifest(
        base, repo, tag, image_manifest(base, repo, labels, headers=headers), headers=headers
    )
