"""Writing figures: PNG or SVG by the output's extension, and a self-contained HTML report;
fixed metadata (no date, no version), so the same inputs give the same bytes; write(tmp) for
ops.publish, which makes the file visible atomically with its manifest."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any, Callable, Sequence

from grucast.errors import ConfigError

FORMATS = {".png": "png", ".svg": "svg"}


def format_of(path: Path, flag: str = "-o") -> str:
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ConfigError(f"{flag} {path}: a plot is written as .png or .svg (by the file's extension)")
    return fmt


def figure_bytes(fig: Any, fmt: str) -> bytes:
    """The figure as PNG or SVG bytes, with no date, version or random ids in them."""
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "grucast", "svg.fonttype": "none"}):
        metadata = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
        fig.savefig(buffer, format=fmt, metadata=metadata)
    return buffer.getvalue()


def writer(data: bytes) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        tmp.write_bytes(data)
    return write


def report(title: str, sections: Sequence[tuple[str, bytes, Sequence[str]]]) -> bytes:
    """A self-contained HTML page: per section a heading, the figure (PNG, inline) and the lines
    of text the run printed; no script, no external file."""
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
             "img{max-width:100%}pre{background:#f6f6f6;padding:.6em;white-space:pre-wrap}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    for heading, png, lines in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts.append(f"<img alt=\"{html.escape(heading)}\" src=\"data:image/png;base64,{base64.b64encode(png).decode()}\">")
        if lines:
            parts.append("<pre>" + html.escape("\n".join(lines)) + "</pre>")
    parts.append("</body></html>\n")
    return "\n".join(parts).encode("utf-8")
