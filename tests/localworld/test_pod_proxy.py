from __future__ import annotations

from pathlib import Path

import pytest

from localworld.pod_proxy import CONF, ConfigShapeError, render_config


def test_the_shipped_config_gets_loopback_ports_and_a_local_scratch_directory(
    tmp_path: Path,
) -> None:
    out = render_config(CONF.read_text(), 18080, 18081, tmp_path)
    assert "listen 127.0.0.1:18080;" in out
    assert "server 127.0.0.1:18081;" in out
    assert f"pid {tmp_path}/nginx.pid;" in out
    assert f"client_body_temp_path {tmp_path}/nginx-body;" in out


@pytest.mark.parametrize(
    "conf",
    [
        "server { listen 9090; } upstream s { server 127.0.0.1:8081; }",
        "server { listen 8080; listen 8080; } upstream s { server 127.0.0.1:8081; }",
        "server { listen 8080; } upstream s { server 10.0.0.1:8081; }",
    ],
)
def test_a_config_that_changed_shape_is_refused(conf: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigShapeError, match="changed shape"):
        render_config(conf, 18080, 18081, tmp_path)
