"""Header escaping per STOMP version (spec 1.2 "Value Encoding").

=======  ==============================  =====================================
version  escapes (on the wire)           parsing an undefined escape
=======  ==============================  =====================================
1.0      none                            n/a (backslashes are literal)
1.1      ``\\n`` ``\\c`` ``\\\\``           MalformedFrame
1.2      as 1.1 plus ``\\r``               MalformedFrame
=======  ==============================  =====================================

CONNECT, STOMP and CONNECTED are never escaped in any version.  Callers pick the
functions once per frame with :func:`escaper_for` / :func:`unescaper_for`; ``None``
means "no escaping", which lets the hot paths skip a call entirely.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .commands import V1_0, V1_1, V1_2
from .errors import LocalProtocolError, MalformedFrame

__all__ = [
    "check_unescaped",
    "escape_11",
    "escape_12",
    "escaper_for",
    "unescaper_for",
]

_UNESCAPE_11 = {"n": "\n", "c": ":", "\\": "\\"}
_UNESCAPE_12 = {"n": "\n", "c": ":", "\\": "\\", "r": "\r"}
# A backslash and the character after it (or nothing, when the backslash ends the text).
_ESCAPE_RE = re.compile(r"\\(.?)", re.DOTALL)


def escape_12(text: str) -> str:
    """Escape a header name or value for STOMP 1.2."""
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\n" in text:
        text = text.replace("\n", "\\n")
    if ":" in text:
        text = text.replace(":", "\\c")
    if "\r" in text:
        text = text.replace("\r", "\\r")
    return text


def escape_11(text: str) -> str:
    """Escape for STOMP 1.1, which has no ``\\r`` escape.

    A raw CR is written as is, except at the end of a line, where the parser (which
    accepts CRLF line ends) would take it for part of the EOL: that is refused.
    """
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\n" in text:
        text = text.replace("\n", "\\n")
    if ":" in text:
        text = text.replace(":", "\\c")
    return text


def check_unescaped(name: str, value: str) -> None:
    """Refuse a header that cannot be written without escaping (1.0, CONNECT...)."""
    if ":" in name or "\n" in name:
        raise LocalProtocolError(f"header name {name!r} cannot be sent unescaped")
    if "\n" in value:
        raise LocalProtocolError(f"value of header {name!r} contains a newline")
    if value.endswith("\r"):
        raise LocalProtocolError(f"header {name!r} would end its line with a CR")


def _make_unescape(table: dict[str, str], version: str) -> Callable[[str], str]:
    def replace(match: re.Match[str]) -> str:
        char = match.group(1)
        try:
            return table[char]
        except KeyError:
            shown = "\\" + char if char else "\\ at end of header"
            raise MalformedFrame(
                f"undefined escape sequence {shown!r} in header (STOMP {version})"
            ) from None

    def unescape(text: str) -> str:
        if "\\" not in text:
            return text
        return _ESCAPE_RE.sub(replace, text)

    return unescape


unescape_11 = _make_unescape(_UNESCAPE_11, V1_1)
unescape_12 = _make_unescape(_UNESCAPE_12, V1_2)


_BY_VERSION: dict[str, tuple[Callable[[str], str] | None, Callable[[str], str] | None]] = {
    V1_2: (escape_12, unescape_12),
    V1_1: (escape_11, unescape_11),
    V1_0: (None, None),  # STOMP 1.0 has no header escaping
}


def _for_version(version: str) -> tuple[Callable[[str], str] | None, Callable[[str], str] | None]:
    try:
        return _BY_VERSION[version]
    except KeyError:
        raise LocalProtocolError(f"unsupported STOMP version {version!r}") from None


def escaper_for(version: str) -> Callable[[str], str] | None:
    """Escape function for ``version``; ``None`` for 1.0."""
    return _for_version(version)[0]


def unescaper_for(version: str) -> Callable[[str], str] | None:
    """Unescape function for ``version``; ``None`` for 1.0."""
    return _for_version(version)[1]
