"""Running a released image pulls it by the pinned digest, never by the tag."""

from __future__ import annotations

import pytest

from scripts.run_image import RunImageError, by_digest_reference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (
            f"127.0.0.1:5000/modelops-app:0.1.0-5-abc@{DIGEST}",
            f"127.0.0.1:5000/modelops-app@{DIGEST}",
        ),
        (f"127.0.0.1:5000/team/app@{DIGEST}", f"127.0.0.1:5000/team/app@{DIGEST}"),
        (f"acr.io/app:7.0@{DIGEST}", f"acr.io/app@{DIGEST}"),
    ],
)
def test_reference_keeps_host_port_and_drops_the_tag(image, expected):
    assert by_digest_reference(image) == expected


def test_an_image_without_digest_is_refused():
    with pytest.raises(RunImageError, match="not pinned by digest"):
        by_digest_reference("127.0.0.1:5000/modelops-app:latest")
