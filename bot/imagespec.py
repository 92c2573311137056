"""Parse the arguments of `promotion-bot set`: image specs and literal specs.

Image specs take the forms of `kustomize edit set image`:
`NAME:TAG`, `NAME@DIGEST`, `NAME:TAG@DIGEST`, `NAME=NEWNAME`, `NAME=NEWNAME:TAG[@DIGEST]`,
`NAME=NEWNAME@DIGEST`. A registry host with a port belongs to the name
(`127.0.0.1:5000/app:1.0` is name `127.0.0.1:5000/app`, tag `1.0`): a `:` is a tag separator
only after the last `/`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.errors import SpecError
from bot.kustomize import ImageSet, LiteralSet

_SHA256 = re.compile(r"^sha256:[a-f0-9]{64}$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:-]*$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _split_reference(ref: str, spec: str) -> tuple[str, str | None, str | None]:
    """`name[:tag][@digest]` -> (name, tag, digest)."""
    name, at, digest = ref.partition("@")
    if at and not _SHA256.match(digest):
        raise SpecError(f"image spec {spec!r}: invalid digest {digest!r} (want sha256:<64 hex>)")
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.match(tag):
            raise SpecError(f"image spec {spec!r}: invalid tag {tag!r}")
    if not name or not _NAME.match(name) or name.endswith(("/", ":")):
        raise SpecError(f"image spec {spec!r}: invalid image name {name!r}")
    return name, tag, (digest if at else None)


def parse_image_spec(spec: str) -> ImageSet:
    """One `--image` argument as an edit request."""
    text = spec.strip()
    if not text or any(c.isspace() for c in text):
        raise SpecError(f"image spec {spec!r}: empty or contains spaces")
    if "=" in text:
        name, _, target = text.partition("=")
        if not name or not _NAME.match(name) or "@" in name:
            raise SpecError(f"image spec {spec!r}: invalid image name {name!r}")
        new_name, tag, digest = _split_reference(target, spec)
        return ImageSet(name, new_name=new_name, tag=tag, digest=digest)
    name, tag, digest = _split_reference(text, spec)
    if tag is None and digest is None:
        raise SpecError(f"image spec {spec!r}: give a tag (NAME:TAG), a digest or NAME=NEWNAME")
    return ImageSet(name, tag=tag, digest=digest)


def parse_literal_spec(spec: str) -> LiteralSet:
    """One `--literal GENERATOR:KEY=VALUE` argument."""
    generator, colon, rest = spec.partition(":")
    key, eq, value = rest.partition("=")
    if not colon or not eq or not generator or not _KEY.match(key):
        raise SpecError(f"literal spec {spec!r}: want GENERATOR:KEY=VALUE")
    if "\n" in value or "\r" in value:
        raise SpecError(f"literal spec {spec!r}: value must be one line")
    return LiteralSet(generator, key, value)


def parse_set_specs(
    images: Sequence[str], literals: Sequence[str]
) -> tuple[list[ImageSet], list[LiteralSet]]:
    """All `--image` and `--literal` arguments of one `set`; each image and each
    GENERATOR:KEY may be given once (two values for one field is a usage error)."""
    image_sets: list[ImageSet] = []
    seen_images: dict[str, str] = {}
    for spec in images:
        request = parse_image_spec(spec)
        if request.name in seen_images:
            raise SpecError(
                f"image spec {spec!r} repeats image {request.name!r} "
                f"(already given by {seen_images[request.name]!r}): give each image once"
            )
        seen_images[request.name] = spec
        image_sets.append(request)
    literal_sets: list[LiteralSet] = []
    seen_literals: dict[tuple[str, str], str] = {}
    for spec in literals:
        lit = parse_literal_spec(spec)
        key = (lit.generator, lit.key)
        if key in seen_literals:
            raise SpecError(
                f"literal spec {spec!r} repeats {lit.generator}:{lit.key} "
                f"(already given by {seen_literals[key]!r}): give each literal once"
            )
        seen_literals[key] = spec
        literal_sets.append(lit)
    return image_sets, literal_sets


def split_registry(name: str) -> tuple[str | None, str]:
    """`host[:port]/path` -> (host[:port], path); a name without a registry host -> (None, name).

    The first component is a host when it has a `.` or a `:` or is `localhost` (the rule the
    Docker/OCI reference grammar uses).
    """
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return None, name
