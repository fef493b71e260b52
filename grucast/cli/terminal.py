"""What reaches a terminal from outside, made safe, from a module light enough to import before
anything else (it imports neither torch nor pandas nor rich), so a bad input fails fast: the one
'Error: ...' line of a failed run, and clean() for every string from a file, a flag or a library."""

from __future__ import annotations

import os
import re
import sys
from typing import Any

# What may not reach a terminal from outside: C0 controls (ESC, CR, BS, ...) but tab, DEL, C1
# controls (U+0080-U+009F, among them CSI), the Unicode bidi embeddings, overrides, isolates and
# marks that reorder what is shown (Trojan Source), the line and paragraph separators, and lone
# surrogates (undecodable bytes of a file name), which no terminal encoding can write.
_BIDI = r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
UNSAFE = re.compile(rf"[\x00-\x08\x0a-\x1f\x7f-\x9f{_BIDI}\u2028\u2029\ud800-\udfff]")
UNSAFE_BUT_NEWLINE = re.compile(rf"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}\u2028\u2029\ud800-\udfff]")
_SHORT = {"\n": "\\n", "\r": "\\r"}


def _escape(m: re.Match) -> str:
    c = m.group()
    o = ord(c)
    return _SHORT.get(c) or (f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}")


def clean(text: Any, newlines: bool = False) -> str:
    """Text from outside made safe for a terminal line: every control character (but tab, and
    newline with newlines=True, for a block meant to span lines), DEL, C1 control, bidi control
    and lone surrogate is shown as a visible escape, as Python writes it: ESC as the four
    characters \\x1b, CR as \\r, U+202E as \\u202e. Everything else, backslashes included, is kept
    as written; the result holds nothing this would escape again. Only for the terminal: files
    keep the data exactly."""
    return (UNSAFE_BUT_NEWLINE if newlines else UNSAFE).sub(_escape, str(text))


def no_color() -> bool:
    """NO_COLOR set to anything but the empty string (no-color.org)."""
    return bool(os.environ.get("NO_COLOR"))


MAX_MESSAGE = 1000  # characters of a message line; a 50 MB value quoted from a file is cut


def shorten(message: str, limit: int = MAX_MESSAGE) -> str:
    """A message cut to limit characters, saying how much was left out."""
    message = str(message)
    return message if len(message) <= limit else f"{message[:limit]}... ({len(message) - limit:,} more characters)"


def error_line(message: str, label: str = "Error", color: str = "31") -> None:
    """One line 'Error: ...' on stderr, red on a terminal; control characters in the message
    (which quotes ids, column names, paths) are shown escaped, line breaks and runs of spaces
    become one space, and a very long one is cut (shorten)."""
    message = " ".join(clean(shorten(message), newlines=True).split())
    if sys.stderr.isatty() and not no_color():
        sys.stderr.write(f"\x1b[{color}m{label}: {message}\x1b[0m\n")
    else:
        sys.stderr.write(f"{label}: {message}\n")
    sys.stderr.flush()
