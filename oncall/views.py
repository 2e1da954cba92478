"""The on-call schedule page of a project, its override form (htmx), swap requests, time off, and
feed management.

The schedule reads the next two weeks in the viewer's zone: a timeline per rotation, the members
with their local hours, upcoming overrides, and the coverage grid. Owners add an override in a few
clicks ("take this shift", or the short form) and the same URL returns the refreshed fragment.
Members ask one another to take a shift (the other accepts or declines) and record their time off.
The rotation and escalation editors are in `oncall.editors`.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from registry.models import Person, Project, ProjectRole
from steward.times import is_time_zone, viewer_zone_name
from steward.web import render_page_or_fragment

from . import services
from .coverage import coverage_grid
from .forms import OverrideForm, SwapForm, TimeOffForm, add_service_errors
from .models import CalendarFeed, EscalationLevel, Override, Rotation, ShiftSwap, TimeOff
from .schedule import (
    Shift,
    layer_members,
    oncall_at,
    project_rotation_prefetches,
    project_rotations,
    rotation_overrides,
    rotation_shifts,
    zone,
)

SCHEDULE_DAYS = 14


def _viewer_zone(request: HttpRequest) -> str:
    """The zone the page asks for (`?tz=`), else the viewer's (`steward.times`)."""
    wanted = request.GET.get("tz", "")
    return wanted if is_time_zone(wanted) else viewer_zone_name(request)


def _project(slug: str, at: datetime) -> Project:
    project = (
        Project.objects.select_related("team", "escalation_policy")
        .prefetch_related(
            *project_rotation_prefetches(overrides_after=at),
            Prefetch("roles", queryset=ProjectRole.objects.select_related("person")),
            Prefetch(
                "escalation_policy__levels",
                queryset=EscalationLevel.objects.select_related("rotation", "person", "team"),
            ),
        )
        .filter(slug=slug)
        .first()
    )
    if project is None:
        raise Http404("No such project.")
    return project


@dataclass
class Bar:
    """A shift drawn on one local day of the timeline, as percentages of that day."""

    shift: Shift
    left: float
    width: float
    local_start: datetime
    local_end: datetime
    person_start: datetime
    person_end: datetime


def _timeline(
    shifts: list[Shift], tz: zoneinfo.ZoneInfo, first_day, days: int
) -> list[tuple[Any, list[Bar]]]:
    rows = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        day_start = datetime.combine(day, datetime.min.time(), tzinfo=tz).astimezone(UTC)
        day_end = datetime.combine(
            day + timedelta(days=1), datetime.min.time(), tzinfo=tz
        ).astimezone(UTC)
        span = (day_end - day_start).total_seconds()
        bars = []
        for shift in shifts:
            a, b = max(shift.start, day_start), min(shift.end, day_end)
            if b <= a:
                continue
            person_tz = zone(shift.person.time_zone)
            bars.append(
                Bar(
                    shift=shift,
                    left=round((a - day_start).total_seconds() * 100 / span, 3),
                    width=round((b - a).total_seconds() * 100 / span, 3),
                    local_start=a.astimezone(tz),
                    local_end=b.astimezone(tz),
                    person_start=a.astimezone(person_tz),
                    person_end=b.astimezone(person_tz),
                )
            )
        rows.append((day, bars))
    return rows


def _people_of(project: Project, rotations: list[Rotation]) -> list[Person]:
    people: dict[int, Person] = {}
    for rotation in rotations:
        for layer in rotation.layers.all():
            for person in layer_members(layer):
                people.setdefault(person.pk, person)
    for role in project.roles.all():
        people.setdefault(role.person.pk, role.person)
    return sorted(people.values(), key=lambda p: p.display_name.lower())


def _can_edit(
    request: HttpRequest, project: Project, rotations: list[Rotation], *, sets_up: bool
) -> bool:
    """Whether the viewer edits every rotation shown (the project's and its team's), given
    whether they set up the project's own on-call (`sets_up`)."""
    if not sets_up:
        return False
    team_rotations = [r for r in rotations if r.team_id]
    return not team_rotations or services.can_edit_team_rotations(request.user, project.team)


def _rotation_members(rotation: Rotation) -> list[Person]:
    people: dict[int, Person] = {}
    for layer in rotation.layers.all():
        for person in layer_members(layer):
            people.setdefault(person.pk, person)
    return list(people.values())


def _swaps(project: Project, viewer: Person | None, *, everyone: bool) -> list[ShiftSwap]:
    """Swap requests on the project's rotations: those the viewer asked or was asked (all of them
    for its editors), waiting ones first, then the last two weeks' answers."""
    if viewer is None and not everyone:
        return []
    swaps = ShiftSwap.objects.filter(
        rotation__in=[r.pk for r in project_rotations(project)],
    ).filter(
        Q(status=ShiftSwap.Status.PENDING)
        | Q(decided_at__gt=timezone.now() - timedelta(days=SCHEDULE_DAYS))
    )
    if not everyone:
        swaps = swaps.filter(Q(requester=viewer) | Q(recipient=viewer))
    swaps = swaps.select_related("rotation", "requester", "recipient")
    return sorted(swaps, key=lambda s: (s.status != ShiftSwap.Status.PENDING, s.start_at))


def _schedule_context(
    request: HttpRequest,
    project: Project,
    *,
    form: OverrideForm | None = None,
    swap_form: SwapForm | None = None,
    time_off_form: TimeOffForm | None = None,
    errors: list[str] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    now = now or timezone.now()
    tz_name = _viewer_zone(request)
    tz = zone(tz_name)
    rotations = project_rotations(project)
    first_day = now.astimezone(tz).date()
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(
        first_day + timedelta(days=SCHEDULE_DAYS), datetime.min.time(), tzinfo=tz
    ).astimezone(UTC)
    schedules = []
    for rotation in rotations:
        shifts = rotation_shifts(rotation, start, end)
        schedules.append(
            {
                "rotation": rotation,
                "now": oncall_at(rotation, now),
                "timeline": _timeline(shifts, tz, first_day, SCHEDULE_DAYS),
                "upcoming": [s for s in shifts if s.end > now][:12],
                "overrides": [o for o in rotation_overrides(rotation) if o.end_at > now],
                "layers": list(rotation.layers.all()),
                "members": _rotation_members(rotation),
            }
        )
    people = _people_of(project, rotations)
    sets_up = services.can_edit_project_oncall(request.user, project)
    can_edit = _can_edit(request, project, rotations, sets_up=sets_up)
    if can_edit and form is None and rotations:
        start_local = now.astimezone(tz).replace(minute=0, second=0, microsecond=0) + timedelta(
            hours=1
        )
        form = OverrideForm(
            rotations=rotations,
            people=people,
            initial={
                "rotation": rotations[0].pk,
                "start_at": start_local.strftime("%Y-%m-%dT%H:%M"),
                "end_at": (start_local + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
            },
        )
    viewer = getattr(request.user, "person", None)
    viewer_is_member = viewer is not None and any(p.pk == viewer.pk for p in people)
    if viewer_is_member and rotations:
        swap_form = swap_form or SwapForm(rotations=rotations, people=people)
        time_off_form = time_off_form or TimeOffForm()
    policy = getattr(project, "escalation_policy", None)
    return {
        "project": project,
        "now": now,
        "tz_name": tz_name,
        "schedules": schedules,
        "members": [
            {
                "person": p,
                "local_now": now.astimezone(zone(p.time_zone)),
                "working_hours": p.working_hours,
            }
            for p in people
        ],
        "coverage": coverage_grid(rotations, time_zone=tz_name, start=now, days=14)
        if rotations
        else [],
        "hours": range(24),
        "can_edit": can_edit,
        "form": form if can_edit else None,
        "viewer": viewer,
        "errors": errors or [],
        "viewer_is_member": viewer_is_member,
        "can_set_up": sets_up,
        "policy": policy,
        "levels": list(policy.levels.all()) if policy else [],
        "swaps": _swaps(project, viewer, everyone=can_edit),
        "swap_answers_recipient": [("accept", "Accept"), ("decline", "Decline")],
        "swap_form": swap_form if viewer_is_member else None,
        "time_off_form": time_off_form if viewer_is_member else None,
        "time_off": (
            list(TimeOff.objects.filter(person=viewer, end_at__gt=now).order_by("start_at"))
            if viewer_is_member
            else []
        ),
    }


def _render(
    request: HttpRequest, project: Project, *, status: int = 200, **kwargs: Any
) -> HttpResponse:
    context = _schedule_context(request, project, **kwargs)
    # The page's times follow the zone it shows (`?tz=`, else the viewer's).
    with timezone.override(zone(context["tz_name"])):
        return render_page_or_fragment(
            request, "oncall/schedule.html", "oncall/_schedule.html", context, status=status
        )


@login_required
def schedule(request: HttpRequest, slug: str) -> HttpResponse:
    now = timezone.now()
    return _render(request, _project(slug, now), now=now)


def _after_write(request: HttpRequest, slug: str, now: datetime) -> HttpResponse:
    if not request.htmx:
        return redirect("oncall:schedule", slug=slug)
    return _render(request, _project(slug, now), now=now)


def _form_write(
    request: HttpRequest,
    project: Project,
    now: datetime,
    *,
    form: forms.Form,
    form_name: str,
    write: Callable[[dict[str, Any]], Any],
) -> HttpResponse:
    """Validate a form of the schedule page (its times in the viewer's zone: a time that does
    not exist there is refused), `write` its cleaned data through a service, and answer with the
    refreshed schedule; or with the form (as `form_name`) showing each error beside its field."""
    with timezone.override(zoneinfo.ZoneInfo(_viewer_zone(request))):
        valid = form.is_valid()
    if valid:
        try:
            write(form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return _after_write(request, project.slug, now)
    return _render(request, project, now=now, status=400, **{form_name: form})


@login_required
@require_POST
def override_add(request: HttpRequest, slug: str) -> HttpResponse:
    now = timezone.now()
    project = _project(slug, now)
    rotations = project_rotations(project)
    people = {p.pk: p for p in _people_of(project, rotations)}

    def write(data: dict[str, Any]) -> None:
        services.override_create(
            actor=request.user,
            rotation={r.pk: r for r in rotations}[data["rotation"]],
            person=people[data["person"]],
            covered=people.get(data["covered"]) if data["covered"] else None,
            start_at=data["start_at"],
            end_at=data["end_at"],
            reason=data["reason"],
        )

    form = OverrideForm(request.POST, rotations=rotations, people=list(people.values()))
    return _form_write(request, project, now, form=form, form_name="form", write=write)


@login_required
@require_POST
def override_take(request: HttpRequest, slug: str) -> HttpResponse:
    """One click: the viewer covers a shown shift (or the part of it still ahead)."""
    now = timezone.now()
    project = _project(slug, now)
    viewer = getattr(request.user, "person", None)
    if viewer is None:
        raise PermissionDenied("Only a person can take a shift.")
    rotations = {r.pk: r for r in project_rotations(project)}
    try:
        rotation = rotations[int(request.POST.get("rotation", ""))]
        start = datetime.fromtimestamp(int(request.POST.get("start", "")), tz=UTC)
        end = datetime.fromtimestamp(int(request.POST.get("end", "")), tz=UTC)
    except (KeyError, ValueError, OverflowError, OSError):
        raise Http404("No such shift.") from None
    covered = None
    for shift in rotation_shifts(rotation, start, end):
        covered = shift.person
        break
    errors: list[str] = []
    try:
        services.override_create(
            actor=request.user,
            rotation=rotation,
            person=viewer,
            covered=covered if covered is not None and covered.pk != viewer.pk else None,
            start_at=max(start, now),
            end_at=end,
            reason="Taken from the schedule",
        )
    except ValidationError as exc:
        errors = [m for messages in exc.message_dict.values() for m in messages]
    if errors:
        return _render(request, _project(slug, now), now=now, errors=errors, status=400)
    return _after_write(request, slug, now)


@login_required
@require_POST
def override_remove(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    now = timezone.now()
    project = _project(slug, now)
    override = get_object_or_404(
        Override.objects.select_related("rotation__project", "rotation__team"),
        pk=pk,
        rotation__in=[r.pk for r in project_rotations(project)],
    )
    services.override_delete(actor=request.user, override=override)
    return _after_write(request, slug, now)


# --- swap requests and time off -------------------------------------------------------------------


@login_required
@require_POST
def swap_request(request: HttpRequest, slug: str) -> HttpResponse:
    """A member asks another member of a rotation to take a shift of theirs (or part of it)."""
    now = timezone.now()
    project = _project(slug, now)
    rotations = project_rotations(project)
    people = _people_of(project, rotations)

    def write(data: dict[str, Any]) -> None:
        services.shift_swap_request(
            actor=request.user,
            rotation={r.pk: r for r in rotations}[data["rotation"]],
            recipient={p.pk: p for p in people}[data["recipient"]],
            start_at=data["start_at"],
            end_at=data["end_at"],
            note=data["note"],
        )

    form = SwapForm(request.POST, rotations=rotations, people=people)
    return _form_write(request, project, now, form=form, form_name="swap_form", write=write)


@login_required
@require_POST
def swap_answer(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The asked member accepts (the override is written) or declines; the asker may cancel."""
    now = timezone.now()
    project = _project(slug, now)
    swap = get_object_or_404(
        ShiftSwap.objects.select_related("rotation__project", "requester", "recipient"),
        pk=pk,
        rotation__in=[r.pk for r in project_rotations(project)],
    )
    try:
        services.shift_swap_answer(
            actor=request.user, swap=swap, answer=request.POST.get("answer", "")
        )
    except ValidationError as exc:
        errors = [m for messages in exc.message_dict.values() for m in messages]
        return _render(request, project, now=now, errors=errors, status=400)
    return _after_write(request, slug, now)


@login_required
@require_POST
def time_off_add(request: HttpRequest, slug: str) -> HttpResponse:
    """The viewer records time away; the schedule shows who covers it."""
    now = timezone.now()
    project = _project(slug, now)
    viewer = getattr(request.user, "person", None)
    if viewer is None:
        raise PermissionDenied("Only a person takes time off.")

    def write(data: dict[str, Any]) -> None:
        services.time_off_add(actor=request.user, person=viewer, **data)

    return _form_write(
        request,
        project,
        now,
        form=TimeOffForm(request.POST),
        form_name="time_off_form",
        write=write,
    )


@login_required
@require_POST
def time_off_remove(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    now = timezone.now()
    get_object_or_404(Project, slug=slug)
    time_off = get_object_or_404(TimeOff.objects.select_related("person"), pk=pk)
    services.time_off_remove(actor=request.user, time_off=time_off)
    return _after_write(request, slug, now)


# --- feeds ----------------------------------------------------------------------------------------


def _feed_url(request: HttpRequest, feed: CalendarFeed) -> str:
    return request.build_absolute_uri(reverse("oncall:feed", args=[feed.token]))


@login_required
def feeds(request: HttpRequest) -> HttpResponse:
    """The viewer's feeds: their own shifts and the rotations they subscribed to."""
    person = getattr(request.user, "person", None)
    if person is None:
        raise PermissionDenied("Only a person has feeds.")
    if request.method == "POST":
        rotation_id = request.POST.get("rotation")
        if rotation_id:
            rotation = get_object_or_404(Rotation, pk=rotation_id)
            services.calendar_feed_create(actor=request.user, rotation=rotation)
        else:
            services.calendar_feed_create(actor=request.user, person=person)
        return redirect("oncall:feeds")
    mine = (
        CalendarFeed.objects.filter(created_by=person, revoked_at__isnull=True)
        .select_related("person", "rotation")
        .order_by("-created_at")
    )
    return render(
        request,
        "oncall/feeds.html",
        {"feeds": [(feed, _feed_url(request, feed)) for feed in mine]},
    )


@login_required
@require_POST
def feed_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    feed = get_object_or_404(CalendarFeed, pk=pk)
    services.calendar_feed_revoke(actor=request.user, feed=feed)
    return redirect("oncall:feeds")
