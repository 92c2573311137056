"""The CLI end to end against Azurite: exit codes, one-line errors, and the --json shapes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from localworld.process import free_port
from modelstore import ModelStore
from modelstore.cli import main
from modelstore.state import file_path, manifest_path
from tests.modelstore.conftest import Digits, make_npz
from tests.modelstore.test_backend import AZURITE_DOWN

MANIFEST_KEYS = {
    "schema_version",
    "name",
    "version",
    "created_at",
    "author",
    "git_commit",
    "files",
    "primary",
    "framework",
    "signature",
    "metrics",
    "tags",
    "description",
    "archived",
}
EVENT_KEYS = {"alias", "from_version", "to_version", "at", "by", "change_id"}


@pytest.fixture
def env(azurite: Any, container: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    monkeypatch.setenv("MODELSTORE_CONTAINER", container)
    monkeypatch.delenv("MODELSTORE_ACCOUNT_URL", raising=False)
    monkeypatch.setenv("MODELSTORE_AUTHOR", "cli-tester")
    return {"connection_string": azurite.connection_string, "container": container}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_register_prints_the_new_version(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], onnx_file: Path
) -> None:
    code, out, err = run(
        capsys, "register", "digits", str(onnx_file), "--metric", "accuracy=0.97", "--tag", "a=b"
    )
    assert (code, out) == (0, "1\n")
    assert "signature input:float32[?,64]" in err
    code, out, _ = run(capsys, "register", "digits", str(onnx_file), "--alias", "champion")
    assert (code, out) == (0, "2\n")


def test_json_shapes_are_stable(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], onnx_file: Path, tmp_path: Path
) -> None:
    registered = run_json(
        capsys,
        "register",
        "digits",
        str(onnx_file),
        "--metric",
        "accuracy=0.9",
        "--alias",
        "champion",
    )
    assert set(registered) == MANIFEST_KEYS
    assert registered["author"] == "cli-tester"
    assert registered["signature"]["inputs"] == [
        {"name": "input", "dtype": "float32", "shape": [None, 64]}
    ]
    assert set(registered["files"][0]) == {"path", "sha256", "size"}
    assert run_json(capsys, "show", "digits", "@champion") == registered
    assert run_json(capsys, "list") == [{"name": "digits", "latest": 1, "aliases": {"champion": 1}}]
    assert run_json(capsys, "list", "digits") == [registered]
    assert run_json(capsys, "alias", "list", "digits") == {"champion": 1}
    history = run_json(capsys, "alias", "history", "digits", "champion")
    assert [set(e) for e in history] == [EVENT_KEYS]
    event = run_json(capsys, "alias", "set", "digits", "candidate", "1")
    assert (set(event), event["from_version"], event["to_version"]) == (EVENT_KEYS, None, 1)
    assert run_json(capsys, "verify", "digits", "1") == registered
    assert run_json(capsys, "download", "digits", "latest", str(tmp_path / "d")) == registered
    assert run_json(capsys, "archive", "digits", "1") == {**registered, "archived": True}
    assert run_json(capsys, "reindex", "digits") == {
        "schema_version": 1,
        "name": "digits",
        "latest": None,
        "max_version": 1,
        "archived": [1],
    }


def test_human_output_of_list_show_and_aliases(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], onnx_file: Path
) -> None:
    run(capsys, "register", "digits", str(onnx_file), "--metric", "accuracy=0.9")
    run(capsys, "register", "digits", str(onnx_file))
    assert run(capsys, "alias", "set", "digits", "champion", "1")[1] == "digits@champion: - -> 1\n"
    assert run(capsys, "alias", "set", "digits", "champion", "2")[1] == "digits@champion: 1 -> 2\n"
    code, out, _ = run(capsys, "list", "digits")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("1\t") and "accuracy=0.9" in lines[0]
    assert lines[1].endswith("@champion")
    code, out, _ = run(capsys, "show", "digits", "latest")
    assert "signature:   input:float32[?,64]" in out
    assert run(capsys, "list")[1] == "digits\tlatest=2\t@champion=2\n"
    history = run(capsys, "alias", "history", "digits", "champion")[1].splitlines()
    assert [line.split("\t")[1:] for line in history] == [
        ["cli-tester", "- -> 1"],
        ["cli-tester", "1 -> 2"],
    ]


def test_domain_errors_exit_1_with_one_line(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], onnx_file: Path
) -> None:
    code, out, err = run(capsys, "show", "nope", "latest")
    assert (code, out) == (1, "")
    assert err == "error: model 'nope' not found (register a first version with `register`)\n"
    run(capsys, "register", "digits", str(onnx_file))
    store = ModelStore.from_connection_string(env["connection_string"], env["container"])
    store.backend.put(file_path("digits", 1, "model.onnx"), b"corrupted")
    code, _, err = run(capsys, "verify", "digits", "1")
    assert code == 1
    assert err.startswith("error: digits v1: model.onnx is corrupted") and err.count("\n") == 1
    code, _, err = run(capsys, "alias", "set", "digits", "champion", "1", "--expect", "1")
    assert (code, err) == (
        1,
        "error: alias 'champion' of model 'digits' is at nothing, not at version 1 as expected: "
        "someone moved it meanwhile; re-read and retry\n",
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["register", "digits", "{onnx}", "--metric", "accuracy=high"],
        ["register", "digits", "{onnx}", "--metric", "accuracy"],
        ["register", "digits", "{onnx}", "--metric", "accuracy=nan"],
        ["register", "../x", "{onnx}"],
        ["register", "Digits", "{onnx}"],
        ["register", "my model", "{onnx}"],
        ["register", "digits", "{empty}"],
        ["show", "digits", "v1"],
        ["archive", "digits", "zero"],
        ["alias", "set", "digits", "champion", "0"],
        ["nonsense"],
        [],
    ],
)
def test_usage_errors_exit_2(
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    onnx_file: Path,
    tmp_path: Path,
    argv: list[str],
) -> None:
    empty = tmp_path / "empty.onnx"
    empty.touch()
    args = [a.format(onnx=onnx_file, empty=empty) for a in argv]
    code, out, err = run(capsys, *args)
    assert code == 2
    assert out == ""
    assert err


def test_storage_down_exits_1_quickly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", AZURITE_DOWN.format(port=free_port()))
    code, _, err = run(capsys, "show", "digits", "latest")
    assert code == 1
    assert "unreachable after 4 attempts" in err
    assert "AccountKey" not in err


def test_missing_configuration_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.delenv("MODELSTORE_ACCOUNT_URL", raising=False)
    code, _, err = run(capsys, "list")
    assert code == 2
    assert err.startswith("error: no model store configured") and err.count("\n") == 1


def test_unexpected_errors_exit_3_and_traceback_is_opt_in(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An unexpected crash cannot be provoked through real storage: this one is injected.
    def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(ModelStore, "resolve", boom)
    code, _, err = run(capsys, "show", "digits", "latest")
    assert (code, err) == (3, "unexpected error: RuntimeError: boom (rerun with --traceback)\n")
    code, _, err = run(capsys, "--traceback", "show", "digits", "latest")
    assert code == 3
    assert "Traceback (most recent call last)" in err


def test_module_entry_point_runs(env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "modelstore", "list", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (result.returncode, json.loads(result.stdout)) == (0, [])


def test_ctrl_c_exits_130(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Injected, as a real Ctrl-C cannot be typed into a test.
    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ModelStore, "resolve", interrupted)
    assert run(capsys, "show", "digits", "latest")[:2] == (130, "")


def test_list_shows_an_unfinished_first_registration_without_latest(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    store = ModelStore.from_connection_string(env["connection_string"], env["container"])
    store.backend.ensure_container()
    store.backend.put("ghost/versions/1/.claim", b"{}")
    assert run_json(capsys, "list") == [{"name": "ghost", "latest": None, "aliases": {}}]
    assert run(capsys, "show", "ghost", "1")[0] == 1


def test_malformed_connection_string_is_a_configuration_error_that_hides_the_key(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "garbage;AccountKey=SECRETKEY")
    code, out, err = run(capsys, "list")
    assert (code, out) == (2, "")  # the README's code for configuration errors
    assert err == "error: AZURE_STORAGE_CONNECTION_STRING is malformed\n"


def test_list_shows_the_other_versions_when_one_manifest_is_corrupt(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], onnx_file: Path
) -> None:
    for _ in range(3):
        run(capsys, "register", "digits", str(onnx_file))
    store = ModelStore.from_connection_string(env["connection_string"], env["container"])
    store.backend.put(manifest_path("digits", 2), b"{}")  # rewritten outside the store
    code, out, err = run(capsys, "list", "digits")
    assert code == 0
    lines = out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["1", "2", "3"]
    assert "corrupt manifest" in lines[1] and "recorded digest is gone" in lines[1]
    assert "digits v2" in err and "1 version" in err
    listed = run_json(capsys, "list", "digits")
    assert [entry["version"] for entry in listed] == [1, 2, 3]
    assert listed[0]["name"] == "digits"
    assert listed[1]["version"] == 2 and "recorded digest is gone" in listed[1]["corrupt"]


@pytest.mark.parametrize(
    ("option", "values", "message"),
    [
        ("--tag", [f"k{i}={'v' * 1000}" for i in range(1_100)], "at most 100 tags"),
        ("--metric", [f"m{i}=0.5" for i in range(101)], "at most 100 metrics"),
        ("--tag", [f"k={'v' * 1025}"], "longer than 1024"),
    ],
)
def test_register_refuses_too_many_or_too_long_tags_and_metrics_as_usage_errors(
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    onnx_file: Path,
    option: str,
    values: list[str],
    message: str,
) -> None:
    argv = [arg for value in values for arg in (option, value)]
    code, out, err = run(capsys, "register", "huge", str(onnx_file), *argv)
    assert (code, out) == (2, "")
    assert message in err and err.count("\n") == 1
    code, _, err = run(capsys, "list", "huge")
    assert code == 1 and "not found" in err  # no version was claimed


def test_show_prints_no_terminal_control_characters_from_the_manifest(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], onnx_file: Path
) -> None:
    hostile = "ok\x1b]52;c;cHduZWQ=\x07\x1b[2J\rversion:     99\u202etxt.exe\x9b31m"
    run(
        capsys,
        "register",
        "digits",
        str(onnx_file),
        "--tag",
        f"team={hostile}",
        "--description",
        f"line one\n{hostile}",
        "--author",
        hostile,
    )
    code, out, _ = run(capsys, "show", "digits", "1")
    assert code == 0
    assert not [c for c in out if c != "\n" and (c < " " or "\x7f" <= c < "\xa0" or c == "\u202e")]
    assert "tag:         team=ok\\x1b]52;c;cHduZWQ=\\x07" in out
    assert "description: line one\\nok" in out
    assert len(out.splitlines()) == 11  # one line per field: nothing injected a line
    code, out, _ = run(capsys, "alias", "set", "digits", "champion", "1", "--author", hostile)
    code, out, _ = run(capsys, "alias", "history", "digits", "champion")
    assert "\x1b" not in out and "\\x1b" in out
    assert run_json(capsys, "show", "digits", "1")["tags"]["team"] == hostile  # JSON: exact


def test_dataset_commands_register_list_show_verify_alias_and_download(
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    npz_file: Path,
    onnx_file: Path,
    tmp_path: Path,
) -> None:
    code, out, err = run(capsys, "dataset", "register", "holdout", str(npz_file), "--alias", "gold")
    assert (code, out) == (0, "1\n")
    assert err.startswith("registered dataset holdout v1 (data.npz sha256 ")
    assert err.rstrip().endswith("rows=40x64)")
    registered = run_json(capsys, "dataset", "show", "holdout", "@gold")
    assert set(registered) == MANIFEST_KEYS
    assert (registered["framework"], registered["primary"]) == ("npz", "data.npz")
    assert registered["signature"]["inputs"] == [
        {"name": "X", "dtype": "float32", "shape": [40, 64]}
    ]
    assert run_json(capsys, "dataset", "verify", "holdout", "1") == registered
    assert run_json(capsys, "dataset", "list") == [
        {"name": "holdout", "latest": 1, "aliases": {"gold": 1}}
    ]
    line = run(capsys, "dataset", "list", "holdout")[1]
    assert line.startswith("1\t") and line.rstrip().endswith("rows=40x64\t@gold")
    assert run(capsys, "dataset", "alias", "set", "holdout", "next", "1")[1] == (
        "holdout@next: - -> 1\n"
    )
    assert run_json(capsys, "dataset", "alias", "list", "holdout") == {"gold": 1, "next": 1}
    run(capsys, "dataset", "download", "holdout", "1", str(tmp_path / "d"))
    assert (tmp_path / "d" / "data.npz").read_bytes() == npz_file.read_bytes()
    # The model registry beside it is separate.
    assert run_json(capsys, "list") == []
    run(capsys, "register", "holdout", str(onnx_file))
    assert run_json(capsys, "show", "holdout", "1")["framework"] == "onnx"


def test_dataset_errors_exit_1_or_2_and_name_the_dataset(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "dataset", "show", "nope", "latest")
    assert (code, out) == (1, "")
    assert err == (
        "error: dataset 'nope' not found (register a first version with `dataset register`)\n"
    )
    pickled = tmp_path / "p.npz"
    np.savez(pickled, X=np.array([[object()]], dtype=object), y=np.zeros(1, np.int64))
    code, out, err = run(capsys, "dataset", "register", "holdout", str(pickled))
    assert (code, out) == (2, "")
    assert "X holds Python objects, which need pickle: not accepted" in err
    assert run_json(capsys, "dataset", "list") == []


def test_evaluate_prints_the_figures_then_reads_them_from_the_cache(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], digits: Digits
) -> None:
    run(capsys, "register", "digits", str(digits.model_dir))
    run(capsys, "dataset", "register", "holdout", str(digits.holdout), "--alias", "golden")
    code, out, err = run(capsys, "evaluate", "digits", "latest", "--dataset", "holdout@golden")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith(
        "digits v1 on dataset holdout v1: 450 rows x 64 features, 10 classes (computed, "
    )
    assert f"accuracy        {digits.accuracy:.4f}" in lines
    assert any(line.startswith("latency b=64 ") for line in lines)
    header = lines.index("confusion matrix (rows: true label, columns: predicted label)")
    assert lines[header + 1].split() == [str(label) for label in range(10)]
    assert len(lines) == header + 12
    report = run_json(capsys, "evaluate", "digits", "1", "--dataset", "holdout@1")
    assert set(report) == {"model", "dataset", "cached", "result"}
    assert report["cached"] is True
    assert report["dataset"] == {
        "name": "holdout",
        "version": 1,
        "sha256": report["dataset"]["sha256"],
    }
    assert set(report["result"]["metrics"]) == {
        "accuracy",
        "macro_f1",
        "per_class_recall",
        "log_loss",
        "ece",
        "top_k_accuracy",
        "confusion_matrix",
    }
    assert report["result"]["metrics"]["accuracy"] == pytest.approx(digits.accuracy, abs=1e-6)
    # Evaluation sets and cached results are not models.
    assert [m["name"] for m in run_json(capsys, "list")] == ["digits"]


def test_evaluate_errors_exit_2_for_usage_and_1_for_an_unfit_dataset(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], digits: Digits, tmp_path: Path
) -> None:
    for bad in ("holdout", "@1", "holdout@"):
        code, out, err = run(capsys, "evaluate", "digits", "1", "--dataset", bad)
        assert (code, out) == (2, "")
        assert "NAME@VERSION" in err
    assert run(capsys, "evaluate", "digits", "1")[0] == 2
    run(capsys, "register", "digits", str(digits.model_dir))
    run(capsys, "dataset", "register", "narrow", str(make_npz(tmp_path / "n.npz", features=8)))
    code, out, err = run(capsys, "evaluate", "digits", "1", "--dataset", "narrow@latest")
    assert (code, out) == (1, "")
    assert err == (
        "error: cannot evaluate digits v1 on dataset narrow v1: the dataset has 8 features per "
        "row, the model takes 64\n"
    )
    code, _, err = run(capsys, "evaluate", "digits", "1", "--dataset", "nope@1")
    assert code == 1
    assert "dataset 'nope' not found" in err
