"""What an environment renders besides its pins (issue 14.3): pure, stdlib only.

Moving `release/<env>` ships every change to the files its overlay's kustomization pulls in,
not only the pins: the base, patches, sizing, generators. The shell (`bot.outside`) lists the
commits that touched those files; this module says which files those are (`references`: every
string of a kustomization that may name a path, resolved against its directory) and whether a
change to the overlay file itself was only a change of its pins (`pin_only`: the two parsed
documents are equal once the pinned values are taken out, `without_pins`). Comments and
formatting are not in the parsed document, so they count as no change (they render the same).
"""

from __future__ import annotations

import posixpath
from typing import Any

#: The pinned fields of the `images[]` entry named `image_name` (`bot.overlay.pins`).
IMAGE_FIELDS = ("newName", "newTag", "digest")
#: The pinned literals of the `configMapGenerator[]` entry named `model_pin`.
MODEL_KEYS = ("MODEL_NAME", "MODEL_VERSION", "MODEL_SHA256")
#: The file names kustomize looks for in a directory, in its order.
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def _named(entry: object, name: str) -> bool:
    return isinstance(entry, dict) and entry.get("name") == name


def _literal_key(item: object) -> str:
    return str(item).partition("=")[0]


def without_pins(doc: object, image_name: str, model_pin: str) -> object:
    """A parsed kustomization (plain data) with its pinned values taken out: two overlays with
    equal `without_pins` render the same but for the pins. Anything else is kept as is."""
    if not isinstance(doc, dict):
        return doc
    out = dict(doc)
    images = out.get("images")
    if isinstance(images, list):
        out["images"] = [
            {k: v for k, v in e.items() if k not in IMAGE_FIELDS} if _named(e, image_name) else e
            for e in images
        ]
    generators = out.get("configMapGenerator")
    if isinstance(generators, list):
        out["configMapGenerator"] = [
            _without_model(g) if _named(g, model_pin) else g for g in generators
        ]
    return out


def _without_model(generator: dict[str, Any]) -> dict[str, Any]:
    literals = generator.get("literals")
    if not isinstance(literals, list):
        return generator
    kept = [item for item in literals if _literal_key(item) not in MODEL_KEYS]
    return {**generator, "literals": kept}


def pin_only(before: object, after: object, image_name: str, model_pin: str) -> bool:
    """Whether a change of the overlay file from `before` to `after` (parsed) touched nothing
    but the pins."""
    return without_pins(before, image_name, model_pin) == without_pins(after, image_name, model_pin)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def references(doc: object, directory: str) -> list[str]:
    """Every string in the kustomization `doc` (of the repository directory `directory`) that
    could name a file or directory of the repository, as a repository path. Over-inclusive on
    purpose: the shell keeps those that exist in the tree (a value that happens to name a file
    makes that file count, which can only add a soak, never skip one). URLs and paths leaving
    the repository are not files of it (a remote base is not covered: pin it by ref)."""
    found = []
    for value in _candidates(doc):
        if not value or "\n" in value or _remote(value) or value.startswith("/"):
            continue
        path = posixpath.normpath(posixpath.join(directory, value))
        if path == ".." or path.startswith("../"):
            continue
        found.append(path)
    return list(dict.fromkeys(found))


def _candidates(doc: object) -> list[str]:
    """Each string of `doc`, and what follows the first `=` in it: a generator's file source
    is `[{key}=]{path}` (`files: [app.conf=../../shared/app.conf]`)."""
    found = []
    for text in _strings(doc):
        value = text.strip()
        found.append(value)
        key, equals, rest = value.partition("=")
        if equals and key and not _remote(value):
            found.append(rest.strip())
    return found


def _remote(value: str) -> bool:
    return "://" in value or value.startswith("git@")
