"""Header values from text someone typed: an outage title, a monitor's summary, a project name.

A line break in a header value ends the header and starts another (an injected `Bcc:`, a second
body), and Django refuses the whole message or response instead (BadHeaderError), so one title
with a newline breaks every email that carries it. Every header Steward builds from such text
goes through `header_value`, which folds what could end a line into one space and bounds the
length; `content_disposition` does the same for a file name, in RFC 6266's form (a quoted ASCII
`filename`, or `filename*=utf-8''…` for anything else).
"""

from __future__ import annotations

import re

from django.utils.http import content_disposition_header

# Control characters (CR, LF, NUL, TAB, …), DEL, C1 controls (NEL U+0085 among them), and the
# Unicode line and paragraph separators: anything a mail or HTTP parser, or str.splitlines(),
# may take for the end of a line. A run of them becomes one space.
_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# Lone surrogates cannot be encoded at all.
_SURROGATES = re.compile("[\ud800-\udfff]")
# RFC 5322 limits a line to 998 characters: a subject longer than this says nothing more.
MAX_HEADER_CHARS = 300


def header_value(text: object, *, max_length: int = MAX_HEADER_CHARS) -> str:
    """`text` as one header line: line breaks and other controls folded to a space, surrounding
    spaces trimmed, at most `max_length` characters (an ellipsis marks the cut)."""
    value = _SURROGATES.sub("\ufffd", _BREAKS.sub(" ", str(text))).strip()
    if len(value) > max_length:
        value = value[: max_length - 1].rstrip() + "…"
    return value


def content_disposition(filename: str, *, as_attachment: bool = True) -> str:
    """A Content-Disposition value for `filename`, whatever it holds."""
    name = header_value(filename, max_length=150).replace("/", "_").replace("\\", "_")
    return content_disposition_header(as_attachment, name or "download")
