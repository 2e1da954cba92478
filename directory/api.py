"""API of the directory: IT marks people as left or back, and anyone with the right adopts an
orphaned project. Beside the people and projects viewsets (registry), answered here."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from registry import permissions
from registry.api.serializers import PersonOut, ProjectOut
from registry.models import Person, Project
from registry.services import require_allowed
from steward.api import BAD_REQUEST, FORBIDDEN, NOT_FOUND

from . import services


def _person_out(request: Request, pk: int) -> Person:
    return get_object_or_404(Person.objects.select_related("user"), pk=pk)


class PersonDeactivateView(APIView):
    """Mark a person as left: their account stops, rotations skip them, the projects they were
    the last active owner of are orphaned. Idempotent. IT staff only."""

    @extend_schema(
        request=None,
        responses={200: PersonOut, 400: BAD_REQUEST, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Mark a person as left (deactivate them)",
    )
    def post(self, request: Request, person_id: int) -> Response:
        require_allowed(permissions.is_it_staff(request.user), "Only IT staff do this.")
        person = _person_out(request, person_id)
        services.person_deactivate(actor=request.user, person=person, source=services.Source.IT)
        person = Person.objects.prefetch_related("contact_methods").get(pk=person_id)
        return Response(PersonOut(person, context={"at": timezone.now()}).data)


class PersonReactivateView(APIView):
    """Mark a person as back: their account works again. Nothing else is given back: orphaned
    projects stay orphaned until adopted. Idempotent. IT staff only."""

    @extend_schema(
        request=None,
        responses={200: PersonOut, 400: BAD_REQUEST, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Mark a person as back (reactivate them)",
    )
    def post(self, request: Request, person_id: int) -> Response:
        require_allowed(permissions.is_it_staff(request.user), "Only IT staff do this.")
        person = _person_out(request, person_id)
        services.person_reactivate(actor=request.user, person=person, source=services.Source.IT)
        person = Person.objects.prefetch_related("contact_methods").get(pk=person_id)
        return Response(PersonOut(person, context={"at": timezone.now()}).data)


class ProjectAdoptView(APIView):
    """Adopt an orphaned project: the caller becomes its owner and it is no longer orphaned.
    IT staff, the project's team and the people with a role on it."""

    @extend_schema(
        request=None,
        responses={200: ProjectOut, 400: BAD_REQUEST, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Adopt an orphaned project (become its owner)",
    )
    def post(self, request: Request, slug: str) -> Response:
        project = get_object_or_404(Project.objects.select_related("team"), slug=slug)
        services.project_adopt(actor=request.user, project=project)
        project = (
            Project.objects.select_related("team")
            .prefetch_related("aliases", "urls", "roles__person")
            .get(pk=project.pk)
        )
        return Response(ProjectOut(project).data)
