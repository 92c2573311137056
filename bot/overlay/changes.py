"""What an overlay edit asks for (`ImageSet`, `LiteralSet`) and what it changed (`UpdateResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Change:
    """One value: `old` None means it was added, `new` None means it was removed."""

    field: str
    old: str | None
    new: str | None


@dataclass
class UpdateResult:
    """What an edit changed: file → object (`images[app]`, `configMapGenerator[pin]`) → changes.

    Like Flux's image-automation-controller result; the same value feeds commit messages, PR
    bodies and tests.
    """

    files: dict[str, dict[str, list[Change]]] = field(default_factory=dict)

    def add(self, file: str, obj: str, change: Change) -> None:
        self.files.setdefault(file, {}).setdefault(obj, []).append(change)

    @property
    def is_empty(self) -> bool:
        return not any(changes for objects in self.files.values() for changes in objects.values())

    def lines(self) -> list[str]:
        """`file: object.field: old -> new`, one line per change."""
        out = []
        for file, objects in self.files.items():
            for obj, changes in objects.items():
                for c in changes:
                    out.append(
                        f"{file}: {obj}.{c.field}: {c.old or '(none)'} -> {c.new or '(none)'}"
                    )
        return out


@dataclass(frozen=True)
class ImageSet:
    """Set fields of the `images:` entry called `name`; None leaves a field as it is."""

    name: str
    new_name: str | None = None
    tag: str | None = None
    digest: str | None = None


@dataclass(frozen=True)
class LiteralSet:
    """Set `KEY=VALUE` in the literals of the configMapGenerator called `generator`."""

    generator: str
    key: str
    value: str
