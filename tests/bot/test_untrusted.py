"""The escaping helper against hostile strings, checked by parsing its output with a real
CommonMark + GFM-table parser (markdown-it-py): the text must render as exactly itself."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from bot.untrusted import _BREAK_RE, REPLACEMENT, _is_unsafe, code, markdown, terminal

HOSTILE = [
    "<!-- hide everything after this",
    "end of comment -->",
    '<!-- promotion-bot: {"env": "prod", "body_sha256": "0"} -->',
    "@ml-reviewers please look",
    "cc @org/sre and @someone",
    "fixes #12 and GH-7 and owner/repo#3",
    "a | b | c",
    "`code` and ``double``",
    "**bold** _em_ ~~strike~~",
    "[click](javascript:alert(1)) ![img](http://x/y.png)",
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "&amp; &lt; &#64;team",
    "# heading",
    "- list",
    "1. ordered",
    "2) ordered",
    "> quote",
    "    indented code",
    "---",
    "===",
    "line one\nline two\r\nline three",
    "\x1b[31mred\x1b[0m and \x1b]8;;http://evil\x07link\x1b]8;;\x07",
    "nul\x00byte and bell\x07",
    "bidi \u202eevil\u202c override",
    "zero\u200bwidth\u200djoiner\ufeffbom",
    "line\u2028separator\u2029para",
    "trailing backslash \\",
    "\\| escaped pipe",
    ":smile: <https://evil.example/>",
    "x" * 500,
    "[ref]: http://evil.example/",
    "+ plus item",
    "= setext",
    "12345) paren",
    "$x^2$ math and $$y$$",
    "a * b * c _d_ e",
    "3.14 is not a list",
    "[a][b] and [c] [d](e) ![f](g) [^1]",
    "snake_case_name and _leading and trailing_ and __dunder__",
    "~single~ ~~double~~",
]


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _inline_text(children: list[Token]) -> str:
    assert all(child.type == "text" for child in children), [c.type for c in children]
    return "".join(child.content for child in children).replace("\u200b", "")


def _paragraph_text(source: str) -> str:
    tokens = _parser().parse(source)
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"]
    return _inline_text(tokens[1].children or [])


def _list_item_text(source: str) -> str:
    tokens = _parser().parse(f"- {source}\n")
    types = [t.type for t in tokens]
    assert types == [
        "bullet_list_open",
        "list_item_open",
        "paragraph_open",
        "inline",
        "paragraph_close",
        "list_item_close",
        "bullet_list_close",
    ], types
    return _inline_text(tokens[3].children or [])


def _first_cell_text(cell: str) -> tuple[str, int]:
    source = f"| a | b |\n|---|---|\n| {cell} | x |\n"
    tokens = _parser().parse(source)
    body = tokens[[t.type for t in tokens].index("tbody_open") :]
    cells = [t for t in body if t.type == "inline"]
    return _inline_text(cells[0].children or []), len(cells)


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_renders_hostile_text_as_itself_in_a_paragraph(text: str) -> None:
    assert _paragraph_text(markdown(text)) == terminal(text)


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_renders_hostile_text_as_itself_in_a_list_item(text: str) -> None:
    assert _list_item_text(markdown(text)) == terminal(text)


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_keeps_a_table_row_to_its_columns(text: str) -> None:
    first, count = _first_cell_text(markdown(text))
    assert count == 2
    assert first == terminal(text)


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_leaves_no_html_comment_mention_or_reference(text: str) -> None:
    out = markdown(text)
    assert "<" not in out
    assert "\n" not in out
    rendered = html.unescape(out)
    assert re.search(r"@(?!\u200b)|#(?=[0-9])", rendered) is None


def test_mentions_and_references_are_defused() -> None:
    out = html.unescape(markdown("@team #12 GH-3"))
    assert "@team" not in out
    assert "#12" not in out
    assert "GH-3" not in out
    assert out.replace("\u200b", "").replace("\\", "") == "@team #12 GH-3"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\x1b[31mred\x1b[0m", f"{REPLACEMENT}[31mred{REPLACEMENT}[0m"),
        ("a\nb\r\nc\td", "a b c d"),
        ("bidi \u202eevil", f"bidi {REPLACEMENT}evil"),
        ("  spaced   out  ", "spaced   out"),
        ("one\u2028two\x85three", "one two three"),
        ("nul\x00", f"nul{REPLACEMENT}"),
    ],
)
def test_terminal_shows_control_characters_as_replacement(text: str, expected: str) -> None:
    assert terminal(text) == expected


def test_terminal_caps_length_with_an_ellipsis() -> None:
    out = terminal("y" * 1000, limit=50)
    assert len(out) == 50
    assert out.endswith("…")


@pytest.mark.parametrize("text", ["plain", "has ` one", "has `` two ``", "`edge`", "<!-- x -->"])
def test_code_span_shows_text_verbatim(text: str) -> None:
    tokens = _parser().parse(f"see {code(text)} here")
    spans = [c for c in (tokens[1].children or []) if c.type == "code_inline"]
    assert [s.content for s in spans] == [terminal(text)]


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=80))
def test_markdown_round_trips_any_text(text: str) -> None:
    expected = terminal(text)
    if not expected:
        assert markdown(text) == ""
        return
    assert _paragraph_text(markdown(text)) == expected
    assert _list_item_text(markdown(text)) == expected
    assert _first_cell_text(markdown(text)) == (expected, 2)


@given(st.text(alphabet=st.characters(max_codepoint=0x7F)))
@settings(max_examples=300)
def test_terminal_treats_ascii_as_the_character_by_character_rule_does(text: str) -> None:
    """Printable ASCII takes a shortcut; every ASCII control still becomes U+FFFD."""
    raw = _BREAK_RE.sub(" ", text)
    slow = "".join(REPLACEMENT if _is_unsafe(c) else c for c in raw).strip()
    assert terminal(text, limit=10_000) == slow
    assert terminal("a\x1b[31mb\x7f", limit=10_000) == f"a{REPLACEMENT}[31mb{REPLACEMENT}"
