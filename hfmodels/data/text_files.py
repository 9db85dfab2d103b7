"""Decoding the project's line-oriented text files, one rule set for every reader.

Every reader of `hfmodels.data` that reads a UTF-8 text file goes through [`read_text`] /
[`read_lines`], so the rules are the same everywhere:

- **Invalid UTF-8** raises [`DataFormatError`] naming the file, the 1-based line, the byte offset
  in the file and the offending bytes.
- **A UTF-8 byte-order mark** (`EF BB BF`) at the very start of a file is removed with a logged
  warning: it is an encoding marker written by some editors, not text, and kept it would become a
  character of the data (in `wiki.txt`, a vocabulary entry). A U+FEFF anywhere else is ordinary
  text and is kept.
- **An empty file** (nothing but a byte-order mark included) is an error.
- [`read_lines`] additionally accepts one trailing newline and rejects every other empty line and
  every carriage return (`\\r`, Windows line endings).

Values quoted in error messages are cut to [`MAX_SHOWN`] characters by [`shorten`], so a 10 MB
line is not pasted whole into a traceback.
"""

from __future__ import annotations

import codecs
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

#: Longest value quoted whole in an error message.
MAX_SHOWN = 80


class DataFormatError(ValueError):
    """A data file does not have the expected format; the message names the file, line and value."""


def shorten(value: str | bytes, limit: int = MAX_SHOWN) -> str:
    """`repr(value)`, cut to `limit` characters with the full length said, for error messages."""
    if len(value) <= limit:
        return repr(value)
    unit = "bytes" if isinstance(value, bytes) else "characters"
    return f"{value[:limit]!r}… ({len(value)} {unit} in all)"


def read_text(path: str | os.PathLike) -> str:
    """The whole text of the UTF-8 file `path`, with a leading byte-order mark removed (and logged).

    Raises:
        [`DataFormatError`]: the bytes are not valid UTF-8 (file, line, byte offset, bytes) or the
            file is empty.
    """
    path = Path(path)
    raw = path.read_bytes()
    skipped = 0
    if raw.startswith(codecs.BOM_UTF8):
        logger.warning("%s: removed the UTF-8 byte-order mark at the start of the file.", path)
        skipped = len(codecs.BOM_UTF8)
    try:
        text = raw[skipped:].decode("utf-8")
    except UnicodeDecodeError as err:
        start = skipped + err.start
        line = raw[:start].count(b"\n") + 1
        line_start = raw.rfind(b"\n", 0, start) + 1
        bad = raw[start : skipped + err.end]
        raise DataFormatError(
            f"{path}:{line}: not valid UTF-8 ({err.reason}) at byte offset {start} of the file (byte "
            f"{start - line_start + 1} of the line): {shorten(bad)}."
        ) from None
    if not text:
        raise DataFormatError(f"{path}:1: the file is empty (expected at least one line).")
    return text


def read_lines(path: str | os.PathLike) -> list[str]:
    """The lines of the UTF-8 file `path` (see [`read_text`]); one trailing newline is accepted.

    Raises:
        [`DataFormatError`]: an empty line other than one at the end, a carriage return, or any
            error of [`read_text`].
    """
    lines = read_text(path).split("\n")
    if lines[-1] == "":
        lines.pop()  # a final newline ends the last line; it does not start an empty one
    for number, line in enumerate(lines, start=1):
        if line == "":
            raise DataFormatError(f"{path}:{number}: empty line (expected one example per line).")
        if "\r" in line:
            raise DataFormatError(
                f"{path}:{number}: carriage return (\\r) in the line; convert Windows line endings to \\n."
            )
    return lines


__all__ = ["MAX_SHOWN", "DataFormatError", "read_lines", "read_text", "shorten"]
