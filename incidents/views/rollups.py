"""Rollups of service levels: every project (the company) and a team's, per calendar month,
as a page with charts drawn on the server (SVG) or as CSV (`?format=csv`). Signed-in people."""

from __future__ import annotations

import re

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from registry.models import Team
from steward.headers import content_disposition

from ..rollups import rollup, rollup_csv
from ..service_levels import month_of

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
CHART_WIDTH = 400
# The page lists the first rows (those that missed first); the CSV has every project.
ROWS_SHOWN = 100


def _month(request: HttpRequest) -> tuple[int, int, str]:
    """(year, month, error) from `?month=YYYY-MM`; this month when absent."""
    text = request.GET.get("month", "")
    year, month = month_of(timezone.now())
    if not text:
        return year, month, ""
    match = _MONTH.match(text)
    if not match or not (1 <= int(match[2]) <= 12) or not (2000 <= int(match[1]) <= 2100):
        return year, month, "month: give a month as YYYY-MM, between 2000 and 2100."
    return int(match[1]), int(match[2]), ""


def _bars(pairs: list[tuple[str, int]]) -> list[tuple[str, int, int, int]]:
    """(label, count, bar width, y) for a horizontal bar chart."""
    peak = max((count for _label, count in pairs), default=0) or 1
    return [
        (label, count, round(CHART_WIDTH * count / peak), 24 * i)
        for i, (label, count) in enumerate(pairs)
    ]


def _respond(request: HttpRequest, team: Team | None) -> HttpResponse:
    year, month, error = _month(request)
    result = rollup(year=year, month=month, team=team)
    if request.GET.get("format") == "csv" and not error:
        name = f"service-levels-{team.slug if team else 'all'}-{year}-{month:02d}.csv"
        response = HttpResponse(rollup_csv(result), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = content_disposition(name)
        return response
    previous = (year - 1, 12) if month == 1 else (year, month - 1)
    following = (year + 1, 1) if month == 12 else (year, month + 1)
    return render(
        request,
        "portal/rollup.html",
        {
            "rollup": result,
            "error": error,
            "month_text": f"{year}-{month:02d}",
            "previous": f"{previous[0]}-{previous[1]:02d}",
            "following": f"{following[0]}-{following[1]:02d}",
            "band_bars": _bars(result.bands),
            "missed_bars": _bars(result.missed_by_measure),
            "shown": result.rows[:ROWS_SHOWN],
        },
        status=400 if error else 200,
    )


@login_required
def rollup_company(request: HttpRequest) -> HttpResponse:
    return _respond(request, None)


@login_required
def rollup_team(request: HttpRequest, slug: str) -> HttpResponse:
    return _respond(request, get_object_or_404(Team, slug=slug))
