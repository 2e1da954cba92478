"""Reviews are written in Markdown: rendered to HTML by markdown-it-py (CommonMark, raw HTML off)
and then cleaned by nh3 (the Rust `ammonia` sanitiser) to an allow-list of tags, attributes and
URL schemes, so nothing a writer types runs in a reader's browser. The export is Markdown too:
the sections as written, the timeline and the action items, times in the reader's zone."""

from __future__ import annotations

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

from steward.times import zoned

from .models import SECTIONS, Review
from .timeline import Timeline

_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")

ALLOWED_TAGS = {
    "p", "br", "hr", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "del",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}


def render(text: str) -> SafeString:
    html = _md.render(text or "")
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    # Cleaned by nh3 to the allow-list above.
    return mark_safe(clean)  # noqa: S308  # nosec B308 B703


def _escape_line(text: str) -> str:
    """A timeline line of typed text, kept from being read as Markdown structure."""
    return " ".join(text.split()).replace("<", "&lt;")


def export(review: Review, timeline: Timeline, items: list, *, zone: str) -> str:
    subject = review.subject
    kind = "Outage" if review.outage_id else "Incident"
    lines = [f"# Review: {_escape_line(review.title)}", ""]
    lines.append(f"- {kind}: {_escape_line(subject.title)}")
    if review.project_id:
        lines.append(f"- Project: {_escape_line(review.project.name)}")
    lines.append(f"- Began: {zoned(subject.started_at, zone)}")
    if subject.resolved_at:
        lines.append(f"- Resolved: {zoned(subject.resolved_at, zone)}")
    lines.append(f"- Times in {zone}")
    lines.append("")
    for name, label in SECTIONS:
        lines += [f"## {label}", "", getattr(review, name).strip() or "_Not written yet._", ""]
    lines += ["## Timeline", ""]
    for entry in timeline.entries:
        who = f" — {_escape_line(entry.who)}" if entry.who else ""
        lines.append(f"- {zoned(entry.at, zone)}: {_escape_line(entry.text)}{who}")
    if timeline.left_out:
        lines.append(f"- … and {timeline.left_out} more page messages and acknowledgements")
    lines += ["", "## Action items", ""]
    if not items:
        lines.append("_None._")
    for item in items:
        box = "x" if item.done_at else " "
        link = f" ({item.tracker_url})" if item.tracker_url else ""
        lines.append(
            f"- [{box}] {_escape_line(item.title)} — {_escape_line(item.owner.display_name)}, "
            f"due {item.due_on.isoformat()}{link}"
        )
    return "\n".join(lines) + "\n"
