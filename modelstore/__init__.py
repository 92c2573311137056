"""Model registry on Azure Blob Storage: immutable, verified model versions with aliases."""

from modelstore.api import ModelStore
from modelstore.errors import ModelStoreError
from modelstore.manifest import FileEntry, Manifest, Signature, TensorSpec
from modelstore.state import AliasEvent

__all__ = [
    "AliasEvent",
    "FileEntry",
    "Manifest",
    "ModelStore",
    "ModelStoreError",
    "Signature",
    "TensorSpec",
]
