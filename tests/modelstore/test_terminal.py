from __future__ import annotations

import pytest

from modelstore.terminal import printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text, accents é and 数字", "plain text, accents é and 数字"),
        ("a\x1b[2Jb", "a\\x1b[2Jb"),
        ("\x1b]52;c;eA==\x07", "\\x1b]52;c;eA==\\x07"),
        ("one\ntwo\rthree\tfour", "one\\ntwo\\rthree\\tfour"),
        ("csi \x9b31m", "csi \\x9b31m"),
        ("rtl \u202egnp.exe", "rtl \\u202egnp.exe"),
        ("line\u2028sep", "line\\u2028sep"),
        ("tag \U000e0041", "tag \\U000e0041"),
        ("non\u00a0breaking", "non\u00a0breaking"),
    ],
)
def test_printable_shows_control_and_format_characters_as_escapes(text: str, shown: str) -> None:
    assert printable(text) == shown
