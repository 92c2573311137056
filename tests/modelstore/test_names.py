from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelstore.errors import InvalidNameError, InvalidReferenceError
from modelstore.names import (
    parse_ref,
    validate_alias,
    validate_file_path,
    validate_key,
    validate_model_name,
)


@pytest.mark.parametrize("name", ["digits", "d", "digits-v2", "resnet_50", "a" * 63])
def test_model_name_accepts_lowercase_names(name: str) -> None:
    assert validate_model_name(name) == name


@pytest.mark.parametrize(
    "name", ["../x", "x/../y", "Digits", "my model", "", "-x", "_x", "a" * 64, "x.y", "x\n"]
)
def test_model_name_refuses_traversal_uppercase_spaces(name: str) -> None:
    with pytest.raises(InvalidNameError, match="invalid model name"):
        validate_model_name(name)


@pytest.mark.parametrize("alias", ["champion", "candidate", "prod-2"])
def test_alias_accepts_lowercase_dash(alias: str) -> None:
    assert validate_alias(alias) == alias


@pytest.mark.parametrize("alias", ["Champion", "a_b", "../a", "a b", "-a", "", "latest"])
def test_alias_refuses_bad_or_reserved(alias: str) -> None:
    with pytest.raises(InvalidNameError):
        validate_alias(alias)


@pytest.mark.parametrize(
    ("ref", "kind", "version", "alias"),
    [
        ("3", "version", 3, None),
        (3, "version", 3, None),
        ("latest", "latest", None, None),
        ("@champion", "alias", None, "champion"),
    ],
)
def test_parse_ref_kinds(ref: str | int, kind: str, version: int | None, alias: str | None) -> None:
    parsed = parse_ref(ref)
    assert (parsed.kind, parsed.version, parsed.alias) == (kind, version, alias)


@pytest.mark.parametrize("ref", ["0", "03", "-1", "v3", "@", "@Champion", "@../x", "", 0, True])
def test_parse_ref_refuses_garbage(ref: str | int) -> None:
    with pytest.raises(InvalidReferenceError):
        parse_ref(ref)


@given(st.integers(min_value=1, max_value=10**12))
def test_parse_ref_round_trips_versions(version: int) -> None:
    assert str(parse_ref(str(version))) == str(version)


@pytest.mark.parametrize("path", ["model.onnx", "labels.json", "sub/dir/weights.bin"])
def test_file_path_accepts_relative_paths(path: str) -> None:
    assert validate_file_path(path) == path


@pytest.mark.parametrize(
    "path", ["../model.onnx", "/etc/passwd", "a//b", ".hidden", "a/./b", "manifest.json", "a b"]
)
def test_file_path_refuses_escapes_hidden_and_reserved(path: str) -> None:
    with pytest.raises(InvalidNameError):
        validate_file_path(path)


def test_metric_key_refuses_spaces() -> None:
    with pytest.raises(InvalidNameError, match="metric name"):
        validate_key("metric name", "top 1")
