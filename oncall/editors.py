"""The rotation and escalation-policy editors of a project's on-call (htmx, server-rendered).

One URL per editor serves the page, its fragment and every button of the form: "add a layer",
"add a member", "remove", "preview" re-render the unsaved form (the preview computes the next two
weeks and the coverage grid from it, nothing written); "save" writes through the same services as
the API (`rotation_save`, `escalation_policy_*`), in one transaction, and goes back to the
schedule. A form with errors answers 400 with each error beside its field.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from registry.models import Person, Project, Team
from steward.times import time_zone_names
from steward.web import render_page_or_fragment, wants_fragment

from . import services
from .coverage import coverage_grid
from .forms import EscalationForm, LayerForm, LevelForm, RotationForm, add_service_errors
from .models import Rotation
from .schedule import (
    LoadedLayer,
    LoadedRotation,
    project_rotations,
    rotation_overrides,
    rotation_shifts,
    time_off_prefetch,
    zone,
)
from .views import SCHEDULE_DAYS, _people_of, _project, _timeline, _viewer_zone

MAX_LAYERS = 10


def _done(request: HttpRequest, project: Project) -> HttpResponse:
    """Saved: back to the schedule (htmx follows HX-Redirect with a full page load)."""
    url = reverse("oncall:schedule", args=[project.slug])
    if wants_fragment(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _posted(form_class: type[forms.Form], data: QueryDict, prefix: str) -> dict[str, Any]:
    """A row's posted values as a form's `initial`: the rows re-rendered after "add" or "remove"
    show what was typed, without judging a form that is not finished."""
    values: dict[str, Any] = {}
    for name, field in form_class.base_fields.items():
        key = f"{prefix}-{name}"
        if isinstance(field, forms.MultipleChoiceField):
            values[name] = [v for v in data.getlist(key) if v]
        elif key in data:
            values[name] = data[key]
    return values


def _row_count(data: QueryDict, name: str, action: str, most: int) -> list[int]:
    """Indexes of the rows kept: those posted, less a removed one, plus an added one."""
    try:
        count = max(0, min(int(data.get(name, "0")), most))
    except ValueError:
        count = 0
    rows = list(range(count))
    if action.startswith(f"remove-{name}:"):
        removed = action.split(":", 1)[1]
        rows = [i for i in rows if str(i) != removed]
    if action == f"add-{name}" and count < most:
        rows.append(-1)
    return rows


def _posted_rows(
    form_class: type[forms.Form], data: QueryDict, name: str, most: int, **kwargs: Any
) -> list:
    """The rows as posted (``name-N-field``), bound, for "preview" and "save"."""
    return [
        form_class(data, prefix=f"{name}-{i}", **kwargs) for i in _row_count(data, name, "", most)
    ]


def _rows_again(
    form_class: type[forms.Form],
    data: QueryDict,
    name: str,
    *,
    action: str,
    most: int,
    blank: dict[str, Any],
    **kwargs: Any,
) -> list:
    """The rows re-rendered after "add" or "remove", renumbered, with what was typed (an added
    row starts from `blank`)."""
    return [
        form_class(
            prefix=f"{name}-{n}",
            initial=_posted(form_class, data, f"{name}-{i}") if i >= 0 else blank,
            **kwargs,
        )
        for n, i in enumerate(_row_count(data, name, action, most))
    ]


def _candidates(project: Project, rotations: list[Rotation], now: datetime) -> list[Person]:
    """Who may be picked: the project's people, its team's and its rotations' members, with their
    time off (the preview covers it like the schedule does)."""
    ids = {p.pk for p in _people_of(project, rotations)}
    if project.team_id:
        ids |= set(project.team.members.values_list("pk", flat=True))
    return list(
        Person.objects.filter(pk__in=ids)
        .prefetch_related(time_off_prefetch(after=now))
        .order_by("display_name", "id")
    )


# --- rotations ------------------------------------------------------------------------------------


def _layer_defaults(request: HttpRequest, now: datetime) -> dict[str, Any]:
    return {
        "time_zone": _viewer_zone(request),
        "start_date": now.astimezone(zone(_viewer_zone(request))).date(),
        "handoff_time": time(9),
        "length": "weekly",
        "length_count": 1,
        "members": [],
    }


def _layer_initial(layer) -> dict[str, Any]:
    return {
        **{name: getattr(layer, name) for name in services.LAYER_FIELDS if name != "order"},
        "members": [m.person_id for m in layer.memberships.all()],
    }


def _preview(
    request: HttpRequest,
    project: Project,
    rotation: Rotation | None,
    name: str,
    layer_forms: list[LayerForm],
    now: datetime,
) -> dict[str, Any]:
    """The next two weeks of the unsaved rotation, and the project's coverage with it in place of
    the saved one: the schedule's own functions, fed plain rows instead of saved rules."""
    tz_name = _viewer_zone(request)
    tz = zone(tz_name)
    layers = []
    for i, form in enumerate(layer_forms):
        fields = {n: getattr(form.layer, n) for n in services.LAYER_FIELDS if n != "order"}
        fields.pop("name")
        people = [form.people[pk] for pk in form.cleaned_data["members"]]
        layers.append(LoadedLayer(pk=-1 - i, order=i, people=people, **fields))
    unsaved = LoadedRotation(
        pk=rotation.pk if rotation else 0,
        name=name,
        project_id=project.pk,
        team_id=None,
        layers=layers,
        overrides=[o for o in rotation_overrides(rotation) if o.end_at > now] if rotation else [],
    )
    first_day = now.astimezone(tz).date()
    start = datetime.combine(first_day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(first_day + timedelta(days=SCHEDULE_DAYS), time(0), tzinfo=tz)
    shifts = rotation_shifts(unsaved, start, end.astimezone(UTC))
    others = [r for r in project_rotations(project) if rotation is None or r.pk != rotation.pk]
    return {
        "tz_name": tz_name,
        "timeline": _timeline(shifts, tz, first_day, SCHEDULE_DAYS),
        "shifts": shifts[:20],
        "coverage": coverage_grid(
            [unsaved, *others], time_zone=tz_name, start=now, days=SCHEDULE_DAYS
        ),
        "hours": range(24),
    }


def _editor_rotation(project: Project, pk: int | None, user: Any) -> Rotation | None:
    if pk is None:
        if not services.can_edit_project_oncall(user, project):
            raise PermissionDenied("Only the project's owners and IT staff set up its on-call.")
        return None
    rotation = next((r for r in project.rotations.all() if r.pk == pk), None)
    if rotation is None:
        raise Http404("No such rotation on this project.")
    if not services.can_edit_rotation(user, rotation):
        raise PermissionDenied("Only the project's owners and IT staff edit its rotations.")
    return rotation


@login_required
def rotation_edit(request: HttpRequest, slug: str, pk: int | None = None) -> HttpResponse:
    now = timezone.now()
    project = _project(slug, now)
    rotation = _editor_rotation(project, pk, request.user)
    rotations = project_rotations(project)
    people = _candidates(project, rotations, now)
    context: dict[str, Any] = {"project": project, "rotation": rotation, "preview": None}
    status = 200
    if request.method != "POST":
        layers = [_layer_initial(layer) for layer in rotation.layers.all()] if rotation else []
        form = RotationForm(initial={"name": rotation.name if rotation else "Primary"})
        layer_forms = [
            LayerForm(prefix=f"layer-{i}", people=people, initial=initial)
            for i, initial in enumerate(layers or [_layer_defaults(request, now)])
        ]
    else:
        action = request.POST.get("action", "")
        if action in ("save", "preview"):
            form = RotationForm(request.POST)
            layer_forms = _posted_rows(LayerForm, request.POST, "layer", MAX_LAYERS, people=people)
            valid = all([form.is_valid()] + [f.is_valid() for f in layer_forms])
            if not layer_forms:
                form.add_error(None, "A rotation needs at least one layer.")
                valid = False
            if valid and action == "save":
                try:
                    services.rotation_save(
                        actor=request.user,
                        rotation=rotation,
                        **({} if rotation else {"project": project}),
                        name=form.cleaned_data["name"],
                        layers=[f.spec() for f in layer_forms],
                    )
                except ValidationError as exc:
                    add_service_errors(form, exc)
                    valid = False
                else:
                    return _done(request, project)
            elif valid:
                context["preview"] = _preview(
                    request, project, rotation, form.cleaned_data["name"], layer_forms, now
                )
            status = 200 if valid else 400
        else:
            form = RotationForm(initial={"name": request.POST.get("name", "")})
            layer_forms = _rows_again(
                LayerForm,
                request.POST,
                "layer",
                action=action,
                most=MAX_LAYERS,
                blank=_layer_defaults(request, now),
                people=people,
            )
    context.update(
        form=form,
        layer_forms=layer_forms,
        time_zones=time_zone_names(),
        can_add_layer=len(layer_forms) < MAX_LAYERS,
    )
    return render_page_or_fragment(
        request, "oncall/rotation_edit.html", "oncall/_rotation_editor.html", context, status=status
    )


# --- escalation policies --------------------------------------------------------------------------


def _level_initial(level) -> dict[str, Any]:
    return {
        "target": level.target,
        "rotation": level.rotation_id,
        "person": level.person_id,
        "team": level.team_id,
        "delay_minutes": level.delay_minutes,
    }


@login_required
def escalation_edit(request: HttpRequest, slug: str) -> HttpResponse:
    now = timezone.now()
    project = _project(slug, now)
    if not services.can_edit_project_oncall(request.user, project):
        raise PermissionDenied("Only the project's owners and IT staff set up its escalation.")
    policy = getattr(project, "escalation_policy", None)
    rotations = project_rotations(project)
    choices = {
        "project": project,
        "rotations": rotations,
        "people": _candidates(project, rotations, now),
        "teams": list(Team.objects.order_by("name", "id")),
    }
    status = 200
    action = request.POST.get("action", "") if request.method == "POST" else ""
    if request.method != "POST":
        levels = [_level_initial(level) for level in policy.levels.all()] if policy else []
        if not levels:
            levels = [
                {"target": "rotation", "rotation": rotations[0].pk, "delay_minutes": 10}
                if rotations
                else {"target": "owners", "delay_minutes": 10}
            ]
        form = EscalationForm(initial={"repeat_count": policy.repeat_count if policy else 2})
        level_forms = [
            LevelForm(prefix=f"level-{i}", initial=initial, **choices)
            for i, initial in enumerate(levels)
        ]
    elif action == "save":
        form = EscalationForm(request.POST)
        level_forms = _posted_rows(LevelForm, request.POST, "level", services.MAX_LEVELS, **choices)
        if all([form.is_valid()] + [f.is_valid() for f in level_forms]):
            specs = [f.spec for f in level_forms]
            repeat_count = form.cleaned_data["repeat_count"]
            try:
                if policy is None:
                    services.escalation_policy_create(
                        actor=request.user, project=project, levels=specs, repeat_count=repeat_count
                    )
                else:
                    services.escalation_policy_update(
                        actor=request.user, policy=policy, levels=specs, repeat_count=repeat_count
                    )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                return _done(request, project)
        status = 400
    else:
        form = EscalationForm(initial={"repeat_count": request.POST.get("repeat_count", "")})
        level_forms = _rows_again(
            LevelForm,
            request.POST,
            "level",
            action=action,
            most=services.MAX_LEVELS,
            blank={"target": "owners", "delay_minutes": 10},
            **choices,
        )
    context = {
        "project": project,
        "policy": policy,
        "form": form,
        "level_forms": level_forms,
        "can_add_level": len(level_forms) < services.MAX_LEVELS,
    }
    return render_page_or_fragment(
        request,
        "oncall/escalation_edit.html",
        "oncall/_escalation_editor.html",
        context,
        status=status,
    )
