"""Read and edit the pins of a kustomization file, changing nothing but the pinned values.

The public face of `bot.overlay`: the editor (`edit_text`, `set_pins`; how it preserves every
other byte: `bot.overlay.editor`) and the pin grammar (`read_pins_text`, `promotion_edits`:
`bot.overlay.pins`).

Refused with an `OverlayError` naming the file: not a Kustomization, malformed YAML, several
documents, anchors or aliases anywhere (named with their line), unknown image or generator,
values written as tags or multi-line scalars (editing those would change other entries or
cannot be done in place).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bot.overlay.changes import Change, ImageSet, LiteralSet, UpdateResult
from bot.overlay.document import read_text, write_atomic
from bot.overlay.editor import edit_text
from bot.overlay.pins import (
    MODEL_NAME,
    MODEL_SHA256,
    MODEL_VERSION,
    OverlayPins,
    image_set,
    model_literals,
    promotion_edits,
    read_pins_text,
)

__all__ = [
    "MODEL_NAME",
    "MODEL_SHA256",
    "MODEL_VERSION",
    "Change",
    "ImageSet",
    "LiteralSet",
    "OverlayPins",
    "UpdateResult",
    "edit_text",
    "image_set",
    "model_literals",
    "promotion_edits",
    "read_pins",
    "read_pins_text",
    "set_pins",
]


def set_pins(
    path: Path,
    *,
    images: Sequence[ImageSet] = (),
    literals: Sequence[LiteralSet] = (),
    display: str | None = None,
) -> UpdateResult:
    """Edit a kustomization file in place (atomically; untouched when nothing changes).

    `display` is the name used in errors and in the result (e.g. the repo-relative path).
    """
    name = display or str(path)
    text = read_text(path, name)
    new_text, result = edit_text(text, images=images, literals=literals, path=name)
    if not result.is_empty:
        write_atomic(path, new_text)
    return result


def read_pins(
    path: Path, image_name: str, model_pin: str, display: str | None = None
) -> OverlayPins:
    """The pins of a kustomization file (`read_pins_text` of its text)."""
    name = display or str(path)
    return read_pins_text(read_text(path, name), image_name, model_pin, name)
