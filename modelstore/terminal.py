"""Text from a manifest or an alias record, made safe to print on an operator's terminal.

Manifests and alias records are written by whoever can write to the container: their free text
(descriptions, tags, authors) may carry escape sequences that retitle, clear or rewrite the
terminal, set its clipboard (OSC 52), or fake lines (CR, LF, bidi overrides). Pure function.

The bot's `bot.untrusted.terminal` does the same for one-line, length-capped bot output; the
store is a package of its own (the bot depends on it, not the reverse), and `show` must print a
whole description, so escapes here stay visible (`\x1b`) and nothing is cut.
"""

from __future__ import annotations

import unicodedata

# Control (Cc), format (Cf: bidi overrides, zero-width marks) and line/paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """`text` with every control or format character shown as a visible escape (`\\x1b`)."""
    if text.isprintable():  # the common case: nothing to do
        return text
    return "".join(
        _NAMED.get(c) or _escape(c) if unicodedata.category(c) in _UNSAFE_CATEGORIES else c
        for c in text
    )


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
