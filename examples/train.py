"""Train the example digits classifier and export it as ONNX (no pickle anywhere).

A scikit-learn pipeline (scaler + multinomial logistic regression) on the `digits` dataset bundled
with scikit-learn (8x8 grayscale images, pixel values 0..16, flattened to 64 features), converted
by skl2onnx with the input `input: float32[?, 64]` and `zipmap=False`, so the outputs are
`label` (int64 [?]) and `probabilities` (float32 [?, 10]). Every step is seeded or deterministic:
the same library versions give the same `model.onnx` bytes.

    python -m examples.train --out build/model   # model.onnx, labels.json, metrics.json
    python -m examples.train --out build/model --register --name digits --alias candidate
    python -m examples.train --out build/model --register-holdout digits-holdout

`--register` publishes exactly the three files this run wrote (never anything else lying in
`--out`). `--register-holdout NAME` also writes the held-out split as `holdout.npz` (the
evaluation-set format of `modelstore.datasets`, the same bytes for the same split) and registers
it as dataset NAME once: when NAME's latest version already holds these bytes, it is reused.
Exit codes: 0 done, 1 the model store refused, 2 bad usage (an invalid name or alias is caught
before training), 3 unexpected (hidden `--traceback` prints the trace), 130 Ctrl-C.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from modelstore.manifest import Manifest

INPUT_NAME = "input"
N_FEATURES = 64
SEED = 0
TEST_SIZE = 0.25
MODEL_FILE = "model.onnx"
LABELS_FILE = "labels.json"
METRICS_FILE = "metrics.json"
HOLDOUT_FILE = "holdout.npz"
ARTIFACT_FILES = (MODEL_FILE, LABELS_FILE, METRICS_FILE)


@dataclass(frozen=True)
class TrainResult:
    onnx_bytes: bytes
    labels: list[int]
    metrics: dict[str, float]
    holdout_npz: bytes = b""  # the held-out split as an evaluation set (modelstore.datasets)


def train(seed: int = SEED, train_rows: int | None = None) -> TrainResult:
    """Fit the pipeline on a stratified split (its first `train_rows` training rows when given:
    a weaker model on the same held-out split), score it with onnxruntime, return the ONNX
    bytes."""
    import numpy as np
    import onnxruntime as ort
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    digits = load_digits()
    x = digits.data.astype(np.float32)
    y = digits.target
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_SIZE, random_state=seed, stratify=y
    )
    if train_rows is not None:
        x_train, y_train = x_train[:train_rows], y_train[:train_rows]
    pipeline = make_pipeline(
        StandardScaler(), LogisticRegression(C=0.1, max_iter=2000, random_state=seed)
    )
    pipeline.fit(x_train, y_train)
    onnx_model = convert_sklearn(
        pipeline,
        name="digits",
        initial_types=[(INPUT_NAME, FloatTensorType([None, N_FEATURES]))],
        options={id(pipeline.steps[-1][1]): {"zipmap": False}},
        target_opset=17,
    )
    onnx_bytes = onnx_model.SerializeToString()
    # Metrics come from the exported model, not the sklearn object: that is what gets served.
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    labels_out, _ = session.run(None, {INPUT_NAME: x_test})
    accuracy = float(np.mean(labels_out == y_test))
    train_accuracy = float(pipeline.score(x_train, y_train))
    metrics = {
        "accuracy": round(accuracy, 6),
        "train_accuracy": round(train_accuracy, 6),
        "n_train": float(len(y_train)),
        "n_test": float(len(y_test)),
    }
    labels = [int(c) for c in pipeline.classes_]
    from modelstore.datasets import npz_bytes

    return TrainResult(
        onnx_bytes=onnx_bytes,
        labels=labels,
        metrics=metrics,
        holdout_npz=npz_bytes(x_test, y_test),
    )


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_artifacts(result: TrainResult, out_dir: Path) -> list[Path]:
    """Write model.onnx, labels.json, metrics.json; each file appears whole or not at all."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        MODEL_FILE: result.onnx_bytes,
        LABELS_FILE: (json.dumps(result.labels) + "\n").encode(),
        METRICS_FILE: (json.dumps(result.metrics, indent=2, sort_keys=True) + "\n").encode(),
    }
    paths = []
    for name, data in files.items():
        path = out_dir / name
        _atomic_write(path, data)
        paths.append(path)
    return paths


def register(
    out_dir: Path,
    name: str,
    metrics: dict[str, float],
    alias: str | None = None,
    description: str | None = None,
) -> Manifest:
    """Register the artifacts in `out_dir` as a new version through the modelstore Python API.

    Only the files `write_artifacts` writes are published: they are copied into a fresh
    directory first, so stray files in `out_dir` (notes, a crashed run's temporary file) are
    neither uploaded nor able to break the registration.
    """
    from modelstore import ModelStore

    store = ModelStore.from_env()
    with tempfile.TemporaryDirectory(prefix="train-register-") as staging:
        for file_name in ARTIFACT_FILES:
            shutil.copyfile(out_dir / file_name, Path(staging) / file_name)
        return store.register(
            name,
            staging,
            metrics=metrics,
            tags={"dataset": "sklearn-digits", "framework": "onnx"},
            description=description or "digits classifier (examples/train.py)",
            alias=alias,
        )


def register_holdout(result: TrainResult, out_dir: Path, name: str) -> tuple[Manifest, bool]:
    """Write `holdout.npz` and register it as dataset `name`, unless the dataset's latest
    version already holds the same bytes; returns (manifest, whether a version was added)."""
    from modelstore import ModelStore
    from modelstore.errors import ModelNotFoundError, NoLatestVersionError
    from modelstore.manifest import sha256_hex

    path = out_dir / HOLDOUT_FILE
    out_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, result.holdout_npz)
    registry = ModelStore.from_env().datasets
    try:
        latest = registry.resolve(name, "latest")
    except (ModelNotFoundError, NoLatestVersionError):
        latest = None
    if latest is not None and latest.primary_sha256 == sha256_hex(result.holdout_npz):
        return latest, False
    manifest = registry.register(
        name,
        path,
        tags={"source": "sklearn-digits", "split": "test"},
        description=f"held-out split of examples/train.py (test_size={TEST_SIZE}, stratified)",
    )
    return manifest, True


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("build/model"),
    show_default=True,
    help="Directory for model.onnx, labels.json, metrics.json.",
)
@click.option("--seed", type=int, default=SEED, show_default=True)
@click.option(
    "--train-rows",
    type=click.IntRange(min=20),
    default=None,
    help="Fit on only the first N training rows (same held-out split): a weaker model.",
)
@click.option("--register", "do_register", is_flag=True, help="Register via the model store.")
@click.option("--name", default="digits", show_default=True, help="Model name when registering.")
@click.option("--alias", default=None, help="Alias to point at the new version (e.g. candidate).")
@click.option(
    "--register-holdout",
    "holdout_name",
    default=None,
    metavar="NAME",
    help="Register the held-out split as evaluation set NAME (once: same bytes, no new version).",
)
@click.option("--traceback", "_traceback", is_flag=True, hidden=True)
def cli(  # noqa: PLR0917 - click passes options positionally
    out_dir: Path,
    seed: int,
    train_rows: int | None,
    do_register: bool,
    name: str,
    alias: str | None,
    holdout_name: str | None,
    _traceback: bool,
) -> None:
    """Train the digits classifier, export ONNX, optionally register it and its test split."""
    # A bad name must not cost a training run first.
    from modelstore.names import validate_alias, validate_model_name

    if do_register:
        validate_model_name(name)
        if alias is not None:
            validate_alias(alias)
    if holdout_name is not None:
        validate_model_name(holdout_name, "dataset")
    result = train(seed, train_rows)
    write_artifacts(result, out_dir)
    click.echo(f"wrote {out_dir / MODEL_FILE} (accuracy {result.metrics['accuracy']:.4f})")
    if do_register:
        manifest = register(out_dir, name, result.metrics, alias=alias)
        click.echo(f"registered {manifest.name} version {manifest.version}")
    if holdout_name is not None:
        holdout, added = register_holdout(result, out_dir, holdout_name)
        verb = "registered" if added else "unchanged:"
        click.echo(f"{verb} dataset {holdout.name} version {holdout.version}")


def main(argv: Sequence[str] | None = None) -> int:
    from modelstore.errors import InvalidInputError, ModelStoreError

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=args, prog_name="python -m examples.train", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except InvalidInputError as exc:
        click.echo(f"error: {exc}", err=True)
        return 2
    except ModelStoreError as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    except Exception as exc:
        if "--traceback" in args:
            traceback.print_exc()
        click.echo(f"unexpected error: {type(exc).__name__}: {exc}", err=True)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
