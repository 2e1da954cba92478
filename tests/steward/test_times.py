"""`localize_stamps` finds each `utc_stamp` from its " UTC" rather than by scanning every position
with the regular expression: it must rewrite exactly what `_UTC_STAMP.sub` rewrites, in any text;
and `zoned` writes a moment the same however it was given."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from steward import times

ZONE = "Asia/Kolkata"


def _by_the_expression(text: str, zone: str) -> str:
    """What `localize_stamps` did before: the regular expression over the whole text."""
    language = translation.get_language()
    return times._UTC_STAMP.sub(
        lambda match: times._stamp_in_zone(match.group(0), zone, language), text
    )


# Pieces that make stamps, near-stamps and their surroundings: digits (ASCII and not), the
# separators, " UTC" with and without a word character after it, letters, line breaks.
PIECES = st.sampled_from(
    [
        "2026-12-06 19:23",
        "2026-02-30 25:61",
        "1999-01-01 00:00",
        " UTC",
        "UTC",
        " UTCX",
        "x",
        "_",
        "7",
        "٣",
        "-",
        ":",
        " ",
        "\n",
        "→",
        "Since: ",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(PIECES, max_size=30).map("".join))
def test_stamps_are_rewritten_as_the_expression_rewrote_them(text):
    assert times.localize_stamps(text, ZONE) == _by_the_expression(text, ZONE)


# The same few stamps again and again, each between any two pieces: what a page listing several
# apps down since the same moment is made of, with the surroundings that decide a match.
STAMPS = st.sampled_from(["2026-12-06 19:23 UTC", "2026-02-30 25:61 UTC", "٣026-12-06 19:23 UTC"])
UNITS = st.tuples(PIECES, STAMPS, PIECES).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.lists(UNITS, min_size=2, max_size=12).map("".join))
def test_a_stamp_repeated_in_other_surroundings_is_rewritten_as_each_one_decides(text):
    assert times.localize_stamps(text, ZONE) == _by_the_expression(text, ZONE)


def test_a_page_listing_several_apps_has_each_stamp_in_the_recipients_zone():
    body = "".join(
        f"* Project {i}\n  Since: 2026-12-06 19:{i:02d} UTC\n  Path: Project {i} → DC\n"
        for i in range(5)
    )
    local = times.localize_stamps(body, ZONE)
    assert "UTC" not in local
    assert local.count(ZONE) == 5
    assert local == _by_the_expression(body, ZONE)
    assert "Mon 7 Dec 2026, 00:30 Asia/Kolkata" in local  # 19:00 UTC on the 6th, +05:30


def test_text_without_a_stamp_and_a_recipient_in_utc_are_left_as_they_are():
    assert times.localize_stamps("UTCX at 19:23 UTC", ZONE) == "UTCX at 19:23 UTC"
    assert times.localize_stamps("Since: 2026-12-06 19:23 UTC", "UTC") == (
        "Since: 2026-12-06 19:23 UTC"
    )
    assert times.localize_stamps("Since: 2026-12-06 19:23 UTC", None) == (
        "Since: 2026-12-06 19:23 UTC"
    )


def test_a_moment_written_again_is_the_same_text_in_each_language():
    """`zoned` keeps what it wrote for a moment, a zone, a format and a language: the same
    instant given in another zone is the same key, and another language is not."""
    at = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    in_paris = at.astimezone(ZoneInfo("Europe/Paris"))
    with translation.override("en"):
        english = times.zoned(at, "Asia/Tokyo", times.LOCAL_FORMAT)
        assert english == "Mon 18:30 Asia/Tokyo"
        assert times.zoned(in_paris, "Asia/Tokyo", times.LOCAL_FORMAT) == english
        assert (
            times.zoned(at, "America/New_York", times.LOCAL_FORMAT) == "Mon 04:30 America/New_York"
        )
    with translation.override("de"):
        assert times.zoned(at, "Asia/Tokyo", times.LOCAL_FORMAT) == "Mo 18:30 Asia/Tokyo"
