"""Making text from outside safe to show: in Markdown on the forge, and in a terminal.

Commit subjects, tags, metric names, descriptions and error messages from registries are written
by people and systems the bot does not control. Rendered raw, a subject containing `<!--` hides the
rest of a PR body, `@team` pings a whole team, a `|` breaks a table, `<!-- promotion-bot: {...} -->`
spoofs the bot's own state marker, and an ANSI escape rewrites the operator's terminal.

Two functions, used for every such string:
- `terminal(text)`: one line, control and format characters (C0/C1, bidi overrides, zero-width
  joiners, line separators) shown as U+FFFD, length capped.
- `markdown(text)`: `terminal()` first, then every character with a meaning in CommonMark/GFM or
  HTML escaped, and mentions / issue references defused, so the text renders as exactly itself in a
  paragraph, a list item or a table cell.

Renovate defuses mentions the same way (a zero-width space after `@`): GitHub's mention and
reference filters only match `@name` / `#123` in the rendered text.
"""

from __future__ import annotations

import re
import unicodedata

DEFAULT_LIMIT = 200
REPLACEMENT = "\ufffd"
ELLIPSIS = "…"
_ZWSP = "&#8203;"  # zero-width space, as an entity so the source stays visible ASCII

# Every ASCII punctuation character CommonMark lets us backslash-escape that can start or end
# markup (emphasis, code, links, images, headings, lists, tables, strikethrough, autolinks).
_MD_SPECIAL = set("\\`*_{}[]()#+-.!|~:")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
# @user, @org/team, #12, GH-12, owner/repo#12: GitHub links and notifies on all of them.
_MENTION_RE = re.compile(r"@(?=[A-Za-z0-9_-])")
_REFERENCE_RE = re.compile(r"(#|GH-)(?=[0-9])", re.IGNORECASE)


def _is_unsafe(char: str) -> bool:
    if char in "\t ":
        return False
    category = unicodedata.category(char)
    # Cc controls (incl. ESC, NUL, CR, LF), Cf format (bidi overrides, ZWJ, BOM),
    # Zl/Zp line and paragraph separators, Co private use, Cs lone surrogates, Cn unassigned.
    return category in {"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"}


def terminal(text: object, *, limit: int = DEFAULT_LIMIT) -> str:
    """`text` on one line, without control/format characters, at most `limit` characters."""
    raw = str(text)
    cleaned = "".join(
        " " if char in "\t\r\n" else REPLACEMENT if _is_unsafe(char) else char for char in raw
    )
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > limit:
        cleaned = cleaned[: max(limit - 1, 0)].rstrip() + ELLIPSIS
    return cleaned


def markdown(text: object, *, limit: int = DEFAULT_LIMIT) -> str:
    """`text` as inert Markdown that renders as itself (paragraph, list item or table cell)."""
    # terminal() removed every format character, so a zero-width space can only be ours.
    cleaned = _MENTION_RE.sub("@\u200b", terminal(text, limit=limit))
    cleaned = _REFERENCE_RE.sub(lambda m: m.group(1) + "\u200b", cleaned)
    out: list[str] = []
    for char in cleaned:
        if char == "\u200b":
            out.append(_ZWSP)
        elif char in _HTML:
            out.append(_HTML[char])
        elif char in _MD_SPECIAL:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def code(text: object, *, limit: int = DEFAULT_LIMIT) -> str:
    """`text` as an inline code span: shown verbatim, nothing inside is markup or a mention.

    The fence is one backtick longer than the longest run inside. Not for table cells: GFM splits
    a row on `|` before it looks for code spans; use `markdown()` there.
    """
    body = terminal(text, limit=limit)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") or not body.strip() else ""
    return f"{fence}{pad}{body}{pad}{fence}"
