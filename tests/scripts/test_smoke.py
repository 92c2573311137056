"""`make smoke` on a real image pushed to the real registry: passes, and fails when it should."""

from __future__ import annotations

import pytest

from scripts.smoke import main
from tests.conftest import ServiceImage


@pytest.mark.slow
def test_smoke_passes_on_a_good_image_and_fails_on_a_wrong_revision(
    service_image: ServiceImage, capsys
):
    # the session's image of this checkout (tests/conftest.py), pushed to the real registry
    ref = service_image.by_digest
    revision = service_image.spec.revision
    assert main(["--image", ref, "--revision", revision]) == 0
    out = capsys.readouterr().out
    assert "smoke: ok" in out
    assert "POST /predict 3 rows" in out

    assert main(["--image", ref, "--revision", "0" * 40]) == 1
    assert f"/version revision is not {'0' * 40}" in capsys.readouterr().err


def test_smoke_of_an_image_not_pinned_by_digest_fails_clearly(capsys):
    assert main(["--image", "127.0.0.1:1/modelops-app:latest"]) == 1
    assert "not pinned by digest" in capsys.readouterr().err


def test_smoke_shares_the_exit_codes_of_every_entry_point(capsys):
    assert main(["--traceback", "--image", "127.0.0.1:1/modelops-app:latest"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("smoke: ") and err.count("\n") == 1
    assert main([]) == 2
    assert "the following arguments are required: --image" in capsys.readouterr().err
