"""The pin grammar of an overlay: which fields pin what, how to read, edit and validate them.

An environment's overlay pins (names from `promotion.yaml`: `image_name`, `model_pin`):

- the image: the `images[]` entry named `image_name`, with `newName` (registry/repository),
  `newTag` and `digest` (`sha256:<64 hex>`): it renders as `newName:newTag@digest`;
- the model: the `configMapGenerator[]` entry named `model_pin`, with the literals
  `MODEL_NAME`, `MODEL_VERSION` (a positive integer) and `MODEL_SHA256` (64 lowercase hex).

`read_pins_text` reads them from source text (as written, for the planner), the edit requests
(`image_set`, `model_literals`, `promotion_edits`) write them, `check_pins` validates them in a
parsed document (for `promotion-bot validate`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bot import contentcache
from bot.contentcache import ContentCache
from bot.core.model import ImagePin, ModelPin
from bot.errors import OverlayError
from bot.overlay.changes import ImageSet, LiteralSet
from bot.overlay.document import BOM, find, parse
from bot.overlay.scalars import SourceText
from modelstore.names import MODEL_NAME_RE

MODEL_NAME = "MODEL_NAME"
MODEL_VERSION = "MODEL_VERSION"
MODEL_SHA256 = "MODEL_SHA256"
MODEL_KEYS = (MODEL_NAME, MODEL_VERSION, MODEL_SHA256)
IMAGE_FIELDS = ("newName", "newTag", "digest")

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
VERSION_RE = re.compile(r"^[1-9][0-9]*$")
# OCI distribution spec: a tag is [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
IMAGE_REF_RE = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(\.[a-z0-9-]+)*(:[0-9]+)?(/[a-z0-9._-]+)+$")

Issue = tuple[str, str]  # (field, message)


@dataclass(frozen=True)
class OverlayPins:
    """The pins read from an overlay (None when the entry is absent)."""

    image: ImagePin | None
    model: ModelPin | None
    literals: Mapping[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- reading


#: Parsed pins by the overlay text's blob id: a run reads every overlay and, for rollbacks,
#: their recent history; the next run reads the same blobs and parses none of them again.
PINS_CACHE: ContentCache[OverlayPins] = ContentCache(maxsize=16384)


def code_version() -> str | None:
    """A digest of the code that reads pins (`_parse_pins` and what it calls) and of ruamel's
    version, the version of `PINS_CACHE`'s disk entries (None: keep none on disk)."""
    import ruamel.yaml

    import bot.core.model
    import modelstore.names

    here = Path(__file__).parent
    files = [here / f"{name}.py" for name in ("pins", "document", "scalars", "changes")]
    files += [Path(bot.core.model.__file__), Path(modelstore.names.__file__)]
    return contentcache.code_version(files, ruamel.yaml.__version__)


def pins_to_json(pins: OverlayPins) -> dict[str, Any]:
    """`pins` as JSON (`PINS_CACHE`'s disk entries)."""
    image, model = pins.image, pins.model
    return {
        "image": None if image is None else [image.name, image.new_name, image.tag, image.digest],
        "model": None if model is None else [model.name, model.version, model.sha256],
        "literals": dict(pins.literals),
    }


def pins_from_json(data: Any) -> OverlayPins:
    """What `pins_to_json` wrote; ValueError/TypeError/KeyError on anything else."""
    image, model, literals = data["image"], data["model"], data["literals"]
    strings = (str, type(None))
    if image is not None and not (
        len(image) == 4 and isinstance(image[0], str) and all(isinstance(v, strings) for v in image)
    ):
        raise ValueError("not an image pin")
    if model is not None and not (
        len(model) == 3
        and isinstance(model[0], str)
        and type(model[1]) is int
        and isinstance(model[2], str)
    ):
        raise ValueError("not a model pin")
    if not isinstance(literals, dict) or not all(isinstance(v, str) for v in literals.values()):
        raise ValueError("not literals")
    return OverlayPins(
        image=None if image is None else ImagePin(*image),
        model=None if model is None else ModelPin(*model),
        literals=MappingProxyType(literals),
    )


def read_pins_text(
    text: str, image_name: str, model_pin: str, path: str = "kustomization.yaml"
) -> OverlayPins:
    """The image pin and model pin of a kustomization's text (None where absent); parsed once
    per content (`PINS_CACHE`)."""
    return PINS_CACHE.get_or_parse(
        text, (image_name, model_pin), lambda: _parse_pins(text, image_name, model_pin, path)
    )


def _parse_pins(text: str, image_name: str, model_pin: str, path: str) -> OverlayPins:
    body = text.removeprefix(BOM)
    src = SourceText(body, path)
    doc = parse(body, path)
    image = None
    found = find(doc, "images", image_name, path)
    if found is not None:
        index, entry = found
        values: dict[str, str | None] = {}
        flow = bool(entry.fa.flow_style())
        for key in IMAGE_FIELDS:
            if key in entry:
                line, col = entry.lc.value(key)
                start = src.offset(line, col)
                values[key] = src.scalar(start, flow=flow, what=f"images[{index}].{key}")
            else:
                values[key] = None
        image = ImagePin(image_name, values["newName"], values["newTag"], values["digest"])
    literals: dict[str, str] = {}
    model = None
    gen = find(doc, "configMapGenerator", model_pin, path)
    if gen is not None:
        for item in gen[1].get("literals") or []:
            key, _, value = str(item).partition("=")
            literals.setdefault(key, value)
        model = _model_pin(literals, path, model_pin)
    return OverlayPins(image=image, model=model, literals=MappingProxyType(literals))


def _model_pin(literals: Mapping[str, str], path: str, generator: str) -> ModelPin | None:
    present = [k for k in MODEL_KEYS if k in literals]
    if not present:
        return None
    missing = [k for k in MODEL_KEYS if k not in literals]
    if missing:
        raise OverlayError(path, f"configMapGenerator {generator} lacks {', '.join(missing)}")
    version = literals[MODEL_VERSION]
    if not version.isdigit():
        raise OverlayError(path, f"{MODEL_VERSION}={version} is not a version number")
    return ModelPin(literals[MODEL_NAME], int(version), literals[MODEL_SHA256])


# --------------------------------------------------------------------------- edit requests


def model_literals(generator: str, pin: ModelPin) -> list[LiteralSet]:
    """The three literals that pin a model version."""
    return [
        LiteralSet(generator, MODEL_NAME, pin.name),
        LiteralSet(generator, MODEL_VERSION, str(pin.version)),
        LiteralSet(generator, MODEL_SHA256, pin.sha256),
    ]


def image_set(pin: ImagePin) -> ImageSet:
    """Pin an image exactly (new name, tag and digest)."""
    return ImageSet(pin.name, new_name=pin.new_name, tag=pin.tag, digest=pin.digest)


def promotion_edits(
    image: ImagePin | None, model: ModelPin | None, model_pin: str
) -> tuple[list[ImageSet], list[LiteralSet]]:
    """The requests that pin `image` and/or `model` (e.g. a Promotion's `after` values)."""
    images = [image_set(image)] if image is not None else []
    literals = model_literals(model_pin, model) if model is not None else []
    return images, literals


# --------------------------------------------------------------------------- validating


def check_pins(doc: object, image_name: str, model_pin: str) -> list[Issue]:
    """Check an overlay's parsed kustomization for complete, well-formed pins."""
    if not isinstance(doc, Mapping):
        return [("(document)", "expected a mapping (a Kustomization), got " + kind_of(doc))]
    out: list[Issue] = []
    kind = doc.get("kind", "Kustomization")
    if kind != "Kustomization":
        out.append(("kind", f"expected Kustomization, got {kind!r}"))
    out.extend(_check_image_pin(doc.get("images"), image_name))
    out.extend(_check_model_pin(doc.get("configMapGenerator"), model_pin))
    return out


def _check_image_pin(images: object, image_name: str) -> list[Issue]:
    if images is None:
        return [("images", f"missing: the overlay must pin the image {image_name!r}")]
    if not isinstance(images, list):
        return [("images", "expected a list of image entries, got " + kind_of(images))]
    entries = [e for e in images if isinstance(e, Mapping) and e.get("name") == image_name]
    if not entries:
        return [("images", f"no entry with name: {image_name}")]
    if len(entries) > 1:
        return [("images", f"{len(entries)} entries with name: {image_name}; expected exactly one")]
    entry = entries[0]
    where = f"images[{image_name}]"
    out: list[Issue] = []
    new_name = entry.get("newName")
    if not isinstance(new_name, str) or not IMAGE_REF_RE.fullmatch(new_name):
        out.append((f"{where}.newName", f"expected a registry/repository name, got {new_name!r}"))
    tag = entry.get("newTag")
    if not isinstance(tag, str) or not TAG_RE.fullmatch(tag):
        out.append((f"{where}.newTag", f"expected an image tag (a string), got {tag!r}"))
    digest = entry.get("digest")
    if digest is None:
        out.append((f"{where}.digest", "missing: pin the image by digest (sha256:<64 hex>)"))
    elif not isinstance(digest, str) or not DIGEST_RE.fullmatch(digest):
        out.append((f"{where}.digest", f"expected sha256:<64 lowercase hex>, got {digest!r}"))
    return out


_LITERAL_FORMATS = {
    MODEL_NAME: (MODEL_NAME_RE, "a lowercase model name"),
    MODEL_VERSION: (VERSION_RE, "a positive integer"),
    MODEL_SHA256: (SHA256_RE, "64 lowercase hex characters"),
}


def _check_model_pin(generators: object, model_pin: str) -> list[Issue]:
    if generators is None:
        return [("configMapGenerator", f"missing: the overlay must pin the model in {model_pin!r}")]
    if not isinstance(generators, list):
        return [("configMapGenerator", "expected a list, got " + kind_of(generators))]
    entries = [g for g in generators if isinstance(g, Mapping) and g.get("name") == model_pin]
    if len(entries) != 1:
        return [("configMapGenerator", f"expected exactly one entry named {model_pin!r}")]
    where = f"configMapGenerator[{model_pin}]"
    entry = entries[0]
    extra = sorted(k for k in ("files", "envs", "env") if k in entry)
    if extra:
        return [(where, f"pins must be plain literals, not {', '.join(extra)}")]
    literals = entry.get("literals")
    if not isinstance(literals, list):
        return [(f"{where}.literals", f"missing: expected {', '.join(MODEL_KEYS)}")]
    values: dict[str, str] = {}
    out: list[Issue] = []
    for item in literals:
        if not isinstance(item, str) or "=" not in item:
            out.append((f"{where}.literals", f"expected KEY=VALUE, got {item!r}"))
            continue
        key, _, value = item.partition("=")
        if key in values:
            out.append((f"{where}.literals.{key}", "given twice"))
        values[key] = value
    for key, (pattern, what) in _LITERAL_FORMATS.items():
        got = values.get(key)
        if got is None:
            out.append((f"{where}.literals.{key}", "missing"))
        elif not pattern.fullmatch(got):
            out.append((f"{where}.literals.{key}", f"expected {what}, got {got!r}"))
    return out


def kind_of(value: object) -> str:
    return "nothing" if value is None else type(value).__name__
