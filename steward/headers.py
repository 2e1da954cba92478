"""Header values from text someone typed: an outage title, a monitor's summary, a project name.

A line break in a header value ends the header and starts another (an injected `Bcc:`, a second
body), and Django refuses the whole message or response instead (BadHeaderError), so one title
with a newline breaks every email that carries it. Every header Steward builds from such text
goes through `header_value`, which folds what could end a line into one space and bounds the
length; `content_disposition` does the same for a file name, in RFC 6266's form (a quoted ASCII
`filename`, or `filename*=utf-8''…` for anything else). `Email` does it for a subject, and
folds and encodes it so that it reads back exactly as it was meant.
"""

from __future__ import annotations

import email.message
import re
from email.header import Header
from urllib.parse import quote

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.utils.http import content_disposition_header

# Control characters (CR, LF, NUL, TAB, …), DEL, C1 controls (NEL U+0085 among them), and the
# Unicode line and paragraph separators: anything a mail or HTTP parser, or str.splitlines(),
# may take for the end of a line. A run of them becomes one space.
_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# Lone surrogates cannot be encoded at all.
_SURROGATES = re.compile("[\ud800-\udfff]")
# A notification's subject holds 300 characters; a header longer than that says nothing more,
# and even unfolded it stays inside RFC 5322's 998-character line.
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
    name = name or "download"
    if "=?" in name:  # some clients decode an encoded word even in a quoted file name
        disposition = "attachment" if as_attachment else "inline"
        return f"{disposition}; filename*=utf-8''{quote(name, safe='')}"
    return content_disposition_header(as_attachment, name)


class Email(EmailMultiAlternatives):
    """An email whose subject is `header_value(subject)`, encoded so that it reads back as
    given. Django's own encoding puts a long or non-ASCII subject on a continuation line (read
    back with a leading space) and sends an ASCII subject holding `=?…?=` as it is (read back
    decoded, as another text): here the subject is a `Header` that knows its name, in UTF-8
    encoded words whenever it is not plain ASCII."""

    def __init__(self, subject: str = "", *args, **kwargs) -> None:
        super().__init__(header_value(subject), *args, **kwargs)

    def message(self, **kwargs):
        message = super().message(**kwargs)
        subject = header_value(self.subject)
        charset = "us-ascii" if subject.isascii() and "=?" not in subject else "utf-8"
        del message["Subject"]
        # Past Django's check on purpose: the value is one line already, and a Header object is
        # what the generator folds properly.
        email.message.Message.__setitem__(
            message, "Subject", Header(subject, charset, header_name="Subject")
        )
        return message


def mail_connection():
    """The connection every email Steward sends goes through: STEWARD_EMAIL_BACKEND when set
    (notifications over SMTP while Django's own mail goes elsewhere), else EMAIL_BACKEND."""
    return get_connection(
        backend=settings.STEWARD_EMAIL_BACKEND or None,
        fail_silently=False,
        timeout=settings.EMAIL_TIMEOUT,
    )
