"""Making text from outside safe to show: in Markdown on the forge, and in a terminal.

Commit subjects, tags, metric names, descriptions and error messages from registries are written
by people and systems the bot does not control. Rendered raw, a subject containing `<!--` hides the
rest of a PR body, `@team` pings a whole team, a `|` breaks a table, `<!-- promotion-bot: {...} -->`
spoofs the bot's own state marker, and an ANSI escape rewrites the operator's terminal.

Two functions, used for every such string:
- `terminal(text)`: one line, control and format characters (C0/C1, bidi overrides, zero-width
  joiners, line separators) shown as U+FFFD, length capped.
- `markdown(text)`: `terminal()` first, then every character that makes markup anywhere in a
  line escaped (HTML, code, emphasis, links, table pipes, math), a block marker at its start
  escaped, and mentions / issue references defused, so the text renders as exactly itself in a
  paragraph, a list item or a table cell, and stays readable as source.

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

# Characters that make markup anywhere in a line: escapes, code, emphasis, links and images,
# table cells, strikethrough, GitHub math. Everything else is literal unless it starts a block.
# `[` and `]` are handled apart: a link needs `](` or `][` (or a definition at block start).
_MD_SPECIAL = set("\\`*|~$")
# What starts a block at the beginning of a list item or paragraph: heading, list item,
# block quote (an entity already), setext underline, ordered list `1.` / `1)`.
_BLOCK_START_RE = re.compile(r"^(?:([#+=\[-])|(\d{1,9})([.)]))")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
# @user, @org/team, #12, GH-12, owner/repo#12: GitHub links and notifies on all of them.
_MENTION_RE = re.compile(r"@(?=[A-Za-z0-9_-])")
_REFERENCE_RE = re.compile(r"(#|GH-)(?=[0-9])", re.IGNORECASE)


# Line breaks and tabs (with the spaces around them) become one space: the text stays one line.
_BREAK_RE = re.compile(r"[ ]*[\t\n\v\f\r\x85\u2028\u2029]+[ ]*")


def _is_unsafe(char: str) -> bool:
    if char == " ":
        return False
    category = unicodedata.category(char)
    # Cc controls (incl. ESC, NUL, CR, LF), Cf format (bidi overrides, ZWJ, BOM),
    # Zl/Zp line and paragraph separators, Co private use, Cs lone surrogates, Cn unassigned.
    return category in {"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"}


def terminal(text: object, *, limit: int = DEFAULT_LIMIT) -> str:
    """`text` on one line, without control/format characters, at most `limit` characters.

    Inner spacing is kept (aligned columns stay aligned); line breaks become one space.
    """
    raw = _BREAK_RE.sub(" ", str(text))
    if raw.isascii() and raw.isprintable():  # nothing to replace: no ASCII control character
        cleaned = raw.strip()
    else:
        cleaned = "".join(REPLACEMENT if _is_unsafe(char) else char for char in raw).strip()
    if len(cleaned) > limit:
        cleaned = cleaned[: max(limit - 1, 0)].rstrip() + ELLIPSIS
    return cleaned


def terminal_lines(text: object) -> str:
    """`text` with its lines and indentation kept, every other control/format character shown
    as U+FFFD (for diffs and code blocks, where whitespace is meaning)."""
    return "\n".join(
        "".join(REPLACEMENT if _is_unsafe(char) and char != "\t" else char for char in line)
        for line in str(text).split("\n")
    )


def markdown(text: object, *, limit: int = DEFAULT_LIMIT) -> str:
    """`text` as inert Markdown that renders as itself (paragraph, list item or table cell)."""
    # terminal() removed every format character, so a zero-width space can only be ours.
    cleaned = _MENTION_RE.sub("@\u200b", terminal(text, limit=limit))
    cleaned = _REFERENCE_RE.sub(lambda m: m.group(1) + "\u200b", cleaned)
    prefix = ""
    if start := _BLOCK_START_RE.match(cleaned):
        marker, digits, dot = start.groups()
        prefix = "\\" + marker if marker else digits + "\\" + dot
        cleaned = cleaned[start.end() :]
    out: list[str] = [prefix]
    for index, char in enumerate(cleaned):
        before = cleaned[index - 1] if index else ""
        after = cleaned[index + 1] if index + 1 < len(cleaned) else ""
        if char == "\u200b":
            out.append(_ZWSP)
        elif char in _HTML:
            out.append(_HTML[char])
        elif (
            char in _MD_SPECIAL
            or (char == "]" and after in ("(", "["))
            # `snake_case` is inert: `_` between letters or digits never opens emphasis
            or (char == "_" and not (before.isalnum() and after.isalnum()))
        ):
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
