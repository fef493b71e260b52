"""What a data file is, from its first bytes and its header line, before pandas (or torch) is
imported: standard library only, so that the CLI refuses a file that cannot be data in a fraction
of a second, and data.read reads every file through the same checks. csv_layout refuses what is
not CSV text (binary or another format under a .csv name, UTF-16/32, NUL bytes, not UTF-8, an
endless first line, only blank lines or only a header) and absurdly many or duplicate column
names, and returns the Layout: the separator (',' or, unless one is given, ';', tab or '|' when
the header says so), the header's names as written and the blank lines before it. parquet_head
refuses a .parquet file without the Parquet signature; separator, one_line and
refuse_duplicates are shared with data.read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from grucast.errors import ConfigError, DataError


def parquet_head(path: Path) -> None:
    """DataError unless the file starts with Parquet's signature."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head != b"PAR1":
        looks = "it looks like CSV text; name it " + path.stem + ".csv" if _is_text(path) else "no Parquet signature"
        raise DataError(f"{path} is not a Parquet file ({looks})")


def separator(spec: Optional[str]) -> Optional[str]:
    """The field separator a user means: 'tab' and '\\t' are a tab."""
    if spec in ("tab", "\\t"):
        return "\t"
    return spec


MAX_COLUMNS = 100_000  # wider is no table grucast can use (pandas alone needs seconds per header)
_MAX_HEADER = 16 << 20  # bytes: a longer first line is not a CSV header
_CHUNK = 1 << 16
_COMPRESSED = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma", ".zip": "zip", ".zst": None, ".tar": None}
# What a file named .csv may really be: its first bytes, and what to call it.
_SIGNATURES = (
    (b"PAR1", "a Parquet file; name it {stem}.parquet"),
    (b"\x1f\x8b", "gzip-compressed; name it {name}.gz or decompress it"),
    (b"PK\x03\x04", "a zip archive or an Excel workbook; export the sheet as CSV"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel workbook; export the sheet as CSV"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"BZh91AY&SY", "bzip2-compressed; name it {name}.bz2 or decompress it"),
    (b"\xfd7zXZ\x00", "xz-compressed; name it {name}.xz or decompress it"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed; name it {name}.zst or decompress it"),
    (b"\x7fELF", "a program"),
    (b"SQLite format 3\x00", "an SQLite database"),
)
_WIDE_TEXT = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe", "UTF-16"),
              (b"\xfe\xff", "UTF-16"))


@dataclass
class Layout:
    """How a CSV file is laid out, read from its first lines before pandas reads it."""

    sep: str
    names: Optional[list[str]]  # the header's names, stripped, as written (no pandas 'A.1'); None: unknown
    skip: int = 0  # blank lines before the header


def one_line(e: BaseException) -> str:
    lines = [x.strip() for x in str(e).strip().splitlines() if x.strip()]
    return lines[0] if lines else type(e).__name__


def _open_binary(path: Path):
    """The file's bytes, decompressed when its name says so; None for a compression pandas
    reads but this check cannot open."""
    kind = _COMPRESSED.get("".join(path.suffixes[-1:]).lower(), "")
    if kind == "gzip":
        import gzip

        return gzip.open(path, "rb")
    if kind == "bz2":
        import bz2

        return bz2.open(path, "rb")
    if kind == "lzma":
        import lzma

        return lzma.open(path, "rb")
    if kind == "zip":
        import zipfile

        archive = zipfile.ZipFile(path)
        members = [m for m in archive.namelist() if not m.endswith("/")]
        if len(members) != 1:
            archive.close()
            raise DataError(f"{path} is a zip archive of {len(members)} files; grucast reads a zip holding one CSV file")
        return archive.open(members[0])
    if kind is None:
        return None
    return open(path, "rb")


def _refuse_binary(path: Path, head: bytes, at: int = 0) -> None:
    """Bytes that cannot be the start (at 0) or the first lines of a CSV text file."""
    if at == 0:
        for magic, what in _SIGNATURES:
            if head.startswith(magic):
                raise DataError(f"{path} is not CSV text: it is {what.format(name=path.name, stem=path.stem)}")
        for bom, what in _WIDE_TEXT:
            if head.startswith(bom):
                raise DataError(f"{path} is {what} text; save it as UTF-8 (CSV UTF-8)")
    nul = head.find(b"\x00")
    if nul < 0:
        return
    if at == 0 and not head.strip(b"\x00"):
        raise DataError(f"{path} holds only NUL bytes, no text")
    sample = head[:200]
    if at == 0 and len(sample) >= 4 and (sample[1::2].count(0) > 0.9 * len(sample[1::2])
                                          or sample[0::2].count(0) > 0.9 * len(sample[0::2])):
        raise DataError(f"{path} is UTF-16 text; save it as UTF-8 (CSV UTF-8)")
    line = head[:nul].count(b"\n") + 1 if at == 0 else None
    where = f" (in line {line})" if line is not None else ""
    raise DataError(f"{path} holds NUL bytes{where}: it is a binary file, not CSV text")


def _next_line(f, buf: bytearray, start: int, path: Path) -> tuple[int, int]:
    """(end, next start) of the line at start, reading on into buf until a line break (a
    '\r\n' whole) or _MAX_HEADER bytes; end is -1 when there is none."""
    pos = start
    while True:
        n, r = buf.find(b"\n", pos), buf.find(b"\r", pos)
        end = min(x for x in (n, r) if x >= 0) if max(n, r) >= 0 else -1
        if end >= 0 and end + 1 < len(buf):
            return end, end + (2 if buf[end:end + 2] == b"\r\n" else 1)
        if len(buf) - start > _MAX_HEADER:
            return -1, len(buf)
        more = f.read(_CHUNK * 16)
        if not more:
            return (end, end + 1) if end >= 0 else (-1, len(buf))
        _refuse_binary(path, more, len(buf))
        pos = len(buf) if end < 0 else end
        buf += more


def _fields(text: str, sep: str, path: Path, line: int) -> list[str]:
    """The fields of a header line, split as pandas splits it."""
    import csv

    if len(sep) != 1:
        try:
            return re.split(sep, text)
        except re.error as e:
            raise ConfigError(f"--sep {sep!r} is not a valid separator ({e})") from None
    if text.count('"') % 2:
        raise DataError(f"the header (line {line}) of {path} opens a quote it does not close")
    try:
        return next(csv.reader([text], delimiter=sep, quotechar='"', skipinitialspace=True, strict=False))
    except (csv.Error, StopIteration) as e:
        raise DataError(f"cannot read the header (line {line}) of {path}: {one_line(e)}") from None


def csv_layout(path: Path, sep: Optional[str], header: bool = True) -> Layout:
    """Check the first bytes of a CSV file and read its header line. Whatever is not CSV text
    (binary, another format, UTF-16, NUL bytes, an endless first line, only a header) and
    duplicate or absurdly many column names are refused here, before pandas spends time on them.
    header=False: the bytes only, for a caller that does not know the separator yet (split with
    a guessed one, a header's names could look duplicated)."""
    used = separator(sep) or ","
    try:
        f = _open_binary(path)
        if f is None:
            return Layout(used, None)
        with f:
            head = bytearray(f.read(_CHUNK))
            if not head:
                raise DataError(f"{path} is empty")
            _refuse_binary(path, bytes(head))
            if head.startswith(b"\xef\xbb\xbf"):
                del head[:3]
            skip, start = 0, 0  # blank lines before the header are skipped and counted
            while True:
                end, nxt = _next_line(f, head, start, path)
                if end < 0 or head[start:end].strip(b" \t"):
                    break
                skip, start = skip + 1, nxt
            rest = bytes(head[nxt:]) if end >= 0 else b""
            while end >= 0 and not rest.strip(b" \t\r\n"):
                rest = f.read(_CHUNK)  # anything after the header but blank lines?
                if not rest:
                    break
    except DataError:
        raise
    except Exception as e:  # OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError: unreadable or damaged
        raise DataError(f"cannot read {path}: {one_line(e)}") from None
    line = bytes(head[start:] if end < 0 else head[start:end])
    if len(line) > _MAX_HEADER:
        raise DataError(f"line {skip + 1} of {path} is over {_MAX_HEADER >> 20} MiB long; it is not a CSV header")
    if not line.strip(b" \t\r\n"):
        raise DataError(f"{path} is empty (it has only blank lines)")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte 0x{line[e.start]:02x} in line {skip + 1}); save it as UTF-8") from None
    _refuse_not_utf8(path, bytes(head), end_of_file=len(head) < _CHUNK)
    if not header:
        if not rest.strip(b" \t\r\n"):
            raise DataError(f"{path} has a header but no data rows")
        return Layout(used, None, skip)
    fields = _fields(text, used, path, skip + 1)
    if sep is None and len(fields) == 1:
        # The separator found most often outside quotes (a ';' inside a quoted name does not
        # count against the '|' between the names); ties in this order.
        counts = _unquoted_counts(text, ";\t|")
        other = max(";\t|", key=lambda c: counts[c])
        if counts[other]:
            used, fields = other, _fields(text, other, path, skip + 1)
    if len(fields) > MAX_COLUMNS:
        raise DataError(
            f"{path} has {len(fields):,} columns in its header (line {skip + 1}); grucast reads at most "
            f"{MAX_COLUMNS:,}: write that many series in long format (id, time, value)"
        )
    names = [x.strip() for x in fields]
    refuse_duplicates(path, names)
    if not rest.strip(b" \t\r\n"):
        raise DataError(f"{path} has a header but no data rows")
    return Layout(used, names, skip)


def _refuse_not_utf8(path: Path, head: bytes, end_of_file: bool) -> None:
    """The first bytes after the header must be UTF-8 too (a character cut at the end of the
    sample is not an error), with the line of the first bad byte, as the reader would say it."""
    import codecs

    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=end_of_file)
    except UnicodeDecodeError as e:
        line = head[:e.start].count(b"\n") + 1
        raise DataError(f"{path} is not UTF-8 text (byte 0x{head[e.start]:02x} in line {line}); save it as UTF-8") from None


def _unquoted_counts(text: str, chars: str) -> dict[str, int]:
    """How often each of chars stands outside quotes (_fields refuses an unclosed quote)."""
    bare = re.sub(r'"[^"]*"', "", text)
    return {c: bare.count(c) for c in chars}


def refuse_duplicates(path: Path, names: list) -> None:
    """Two columns of one name: pandas would call the second 'A.1' and read on."""
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        if str(name).strip():
            seen.setdefault(str(name).strip(), []).append(i + 1)
    for name, where in seen.items():
        if len(where) > 1:
            at = ", ".join(str(i) for i in where[:-1]) + f" and {where[-1]}"
            raise DataError(
                f"duplicate column name '{name}' in the header of {path} (columns {at}); give every column its own name"
            )


def _is_text(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(4096)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # not merely a character cut at the end of the sample
            return False
    return b"\x00" not in head and bool(head.strip())


