"""The kinds of artifact the store keeps: where each lives and how a registration checks it.

Models and evaluation sets share every mechanism (claims, immutable sha256 manifests, the
index, aliases, verified downloads); a kind only decides the folder (`Layout`), the name of
the primary file, and what the manifest's `framework` and `signature` say about it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modelstore import datasets
from modelstore.errors import InvalidDatasetError
from modelstore.files import ONNX_PRIMARY, Artifact
from modelstore.manifest import Signature, onnx_signature
from modelstore.state import MODELS, Layout


@dataclass(frozen=True)
class ArtifactKind:
    noun: str  # in messages: "model", "dataset"
    layout: Layout
    primary_name: str  # what a single file is stored as
    describe: Callable[[Artifact], tuple[str, Signature | None]]  # framework, signature


def _describe_model(artifact: Artifact) -> tuple[str, Signature | None]:
    if artifact.framework != "onnx":
        return artifact.framework, None
    return artifact.framework, onnx_signature(artifact.primary_source)


def _describe_dataset(artifact: Artifact) -> tuple[str, Signature | None]:
    source: Path = artifact.primary_source
    if source.suffix.lower() != ".npz":
        raise InvalidDatasetError(
            str(source), f"an evaluation set is an .npz file ({datasets.DATASET_PRIMARY})"
        )
    return datasets.DATASET_FRAMEWORK, datasets.check(source).signature()


MODEL = ArtifactKind("model", MODELS, ONNX_PRIMARY, _describe_model)
DATASET = ArtifactKind("dataset", Layout("_datasets/"), datasets.DATASET_PRIMARY, _describe_dataset)
