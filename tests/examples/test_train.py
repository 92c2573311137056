"""examples/train.py: a real, deterministic ONNX digits classifier with the contract's signature."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from examples.train import main, train, write_artifacts


@pytest.fixture(scope="module")
def result() -> Any:
    return train()


def test_training_is_deterministic_to_the_byte(result: Any) -> None:
    again = train()
    assert hashlib.sha256(again.onnx_bytes).digest() == hashlib.sha256(result.onnx_bytes).digest()
    assert again.metrics == result.metrics


def test_fewer_training_rows_make_a_weaker_model_on_the_same_held_out_split(
    result: Any,
) -> None:
    weaker = train(train_rows=300)
    assert weaker.holdout_npz == result.holdout_npz  # the same evaluation set
    assert weaker.metrics["n_train"] == 300
    assert weaker.metrics["accuracy"] < result.metrics["accuracy"]


def test_model_has_the_contract_signature_and_outputs(result: Any) -> None:
    session = ort.InferenceSession(result.onnx_bytes, providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert (inp.name, inp.type, inp.shape[1]) == ("input", "tensor(float)", 64)
    assert not isinstance(inp.shape[0], int)  # batch dimension left open: [?, 64]
    outputs = {o.name: (o.type, o.shape) for o in session.get_outputs()}
    assert outputs["label"][0] == "tensor(int64)"
    assert outputs["probabilities"][0] == "tensor(float)"
    assert outputs["probabilities"][1][1] == 10


def test_model_is_accurate_on_held_out_digits(result: Any) -> None:
    assert result.metrics["accuracy"] > 0.95
    assert result.metrics["n_test"] == 450
    assert result.labels == list(range(10))


def test_model_classifies_the_checked_in_test_images_source_rows(result: Any) -> None:
    from sklearn.datasets import load_digits

    expected = json.loads(
        (Path(__file__).resolve().parents[1] / "data" / "digits" / "expected.json").read_text()
    )
    digits = load_digits()
    session = ort.InferenceSession(result.onnx_bytes, providers=["CPUExecutionProvider"])
    indices = [entry["index"] for entry in expected.values()]
    labels, _ = session.run(None, {"input": digits.data[indices].astype(np.float32)})
    assert labels.tolist() == [entry["label"] for entry in expected.values()]


def test_write_artifacts_leaves_no_temporary_files(result: Any, tmp_path: Path) -> None:
    write_artifacts(result, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "labels.json",
        "metrics.json",
        "model.onnx",
    ]
    assert json.loads((tmp_path / "labels.json").read_text()) == list(range(10))
    assert json.loads((tmp_path / "metrics.json").read_text())["accuracy"] > 0.95


def test_cli_trains_and_registers_through_the_model_store(
    azurite: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from modelstore import ModelStore

    container = f"train-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    monkeypatch.setenv("MODELSTORE_CONTAINER", container)
    monkeypatch.delenv("MODELSTORE_ACCOUNT_URL", raising=False)
    out = tmp_path / "model"
    args = ["--out", str(out), "--register", "--name", "digits", "--alias", "candidate"]
    assert main(args) == 0
    assert "registered digits version 1" in capsys.readouterr().out
    store = ModelStore.from_connection_string(azurite.connection_string, container=container)
    manifest = store.resolve("digits", "@candidate")
    assert manifest.version == 1
    assert manifest.primary == "model.onnx"
    assert manifest.primary_sha256 == hashlib.sha256((out / "model.onnx").read_bytes()).hexdigest()
    assert manifest.signature is not None
    assert manifest.signature.input_key() == "input:float32[?,64]"
    assert manifest.metrics["accuracy"] > 0.95


def test_cli_reports_a_store_error_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.delenv("MODELSTORE_ACCOUNT_URL", raising=False)
    assert main(["--out", str(tmp_path / "m"), "--register"]) == 1
    err = capsys.readouterr().err
    assert "no model store configured" in err
    assert (tmp_path / "m" / "model.onnx").is_file()  # training output is kept for a retry


def _use_store(azurite: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    container = f"train-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    monkeypatch.setenv("MODELSTORE_CONTAINER", container)
    monkeypatch.delenv("MODELSTORE_ACCOUNT_URL", raising=False)
    return container


def test_register_publishes_only_the_files_it_wrote(
    azurite: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelstore import ModelStore

    container = _use_store(azurite, monkeypatch)
    out = tmp_path / "model"
    out.mkdir()
    (out / "notes.txt").write_text("not for publication\n")
    (out / ".model.onnx.k2j3.tmp").write_bytes(b"left over by a crashed run")
    (out / "old").mkdir()
    (out / "old" / "model.onnx").write_bytes(b"an older export")
    assert main(["--out", str(out), "--register", "--name", "digits"]) == 0
    store = ModelStore.from_connection_string(azurite.connection_string, container=container)
    manifest = store.resolve("digits", "latest")
    assert sorted(f.path for f in manifest.files) == ["labels.json", "metrics.json", "model.onnx"]
    assert manifest.primary_sha256 == hashlib.sha256((out / "model.onnx").read_bytes()).hexdigest()
    assert (out / "notes.txt").is_file()  # the directory itself is left as it was


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--name", "Digits Model"], "invalid model name 'Digits Model'"),
        (["--name", "../digits"], "invalid model name '../digits'"),
        (["--alias", "latest"], "invalid alias 'latest'"),
        (["--register-holdout", "Hold Out"], "invalid dataset name 'Hold Out'"),
    ],
    ids=["spaces-and-uppercase", "path", "reserved-alias", "holdout-name"],
)
def test_cli_refuses_a_bad_name_before_training_with_exit_2(
    azurite: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
    extra: list[str],
    message: str,
) -> None:
    _use_store(azurite, monkeypatch)
    out = tmp_path / "model"
    assert main(["--out", str(out), "--register", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()  # refused before any training or writing


def test_cli_reports_an_unexpected_error_in_one_line_with_exit_3(
    tmp_path: Path, capsys: Any
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = blocker / "model"  # cannot be created: its parent is a file
    assert main(["--out", str(out)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("unexpected error: ")
    assert len(err.strip().splitlines()) == 1
    assert main(["--out", str(out), "--traceback"]) == 3
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_register_holdout_registers_the_test_split_once(
    azurite: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from modelstore import ModelStore
    from modelstore.datasets import check

    container = _use_store(azurite, monkeypatch)
    out = tmp_path / "model"
    assert main(["--out", str(out), "--register-holdout", "digits-holdout"]) == 0
    assert "registered dataset digits-holdout version 1" in capsys.readouterr().out
    info = check(out / "holdout.npz")
    assert (info.rows, info.features) == (450, 64)
    assert main(["--out", str(out), "--register-holdout", "digits-holdout"]) == 0
    assert "unchanged: dataset digits-holdout version 1" in capsys.readouterr().out
    store = ModelStore.from_connection_string(azurite.connection_string, container=container)
    manifest = store.datasets.resolve("digits-holdout", "latest")
    assert manifest.version == 1
    assert manifest.primary_sha256 == hashlib.sha256((out / "holdout.npz").read_bytes()).hexdigest()
    assert store.list_models() == []  # no model was registered without --register
