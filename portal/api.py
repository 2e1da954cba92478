"""The problem-report and subscription API: `reports/`, `system-reports/` (owners telling IT
that a system fails for their app) and `subscriptions/`.

reports/: anyone signed in creates (the same service, grouping, paging and rate limits as the
page; past a limit: 429 with `Retry-After`, nothing stored). Reading is scoped per object by the
queryset: IT staff and admins see every report, a project's owners and maintainers see that
project's reports, anyone else only their own; someone else's report is a 404. The reporter's
network address is never shown.

subscriptions/: a person's own subscriptions (list, create, retrieve, delete = unsubscribe),
through the services of `incidents.services.subscriptions`.
Owners do NOT list their project's subscribers: addresses are personal data and webhook URLs
often carry secrets; the Django admin shows them to admins. Anonymous subscribing is the status
page's double opt-in form, not the API.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from incidents.models import Outage, Subscription
from incidents.selectors import subscriptions_of
from incidents.services import subscriptions
from registry.models import ITSystem, Project
from steward.api import BAD_REQUEST, CONFLICT, FORBIDDEN, ID, NOT_FOUND, parse_input
from steward.errors import Conflict
from steward.proxies import client_address

from . import selectors
from .models import ProblemReport, SystemProblemReport
from .services import reports, system_problems


def _project_field(**kwargs: Any) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(
        slug_field="slug", queryset=Project.objects.all(), help_text="The project's slug.", **kwargs
    )


# --- reports -------------------------------------------------------------------------------------


class ReportIn(serializers.Serializer):
    project = _project_field()
    description = serializers.CharField(
        max_length=reports.MAX_DESCRIPTION,
        allow_blank=True,
        help_text="What is not working (required, at most 2000 characters).",
    )
    contact = serializers.CharField(
        max_length=reports.MAX_CONTACT,
        required=False,
        allow_blank=True,
        default="",
        help_text="Optional: how to reach the reporter.",
    )


class ReportOut(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    reporter = serializers.CharField(
        source="reporter.get_username", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = ProblemReport
        fields = (
            "id",
            "project",
            "description",
            "contact",
            "reporter",
            "incident",
            "outage",
            "group",
            "created_at",
        )
        read_only_fields = fields


class ReportCreatedOut(serializers.Serializer):
    report = ReportOut()
    me_too = serializers.BooleanField(
        help_text="True: attached to an open incident or outage; subscribe instead of a ticket."
    )
    incident = serializers.IntegerField(allow_null=True)
    outage = serializers.IntegerField(allow_null=True)
    me_too_count = serializers.IntegerField(help_text="Reports on that incident or outage.")
    group = serializers.IntegerField(allow_null=True)
    notified = serializers.BooleanField(help_text="This report told the on-call (a notice).")
    paged = serializers.BooleanField(help_text="This report paged the on-call.")


class RateLimitedOut(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    retry_after = serializers.IntegerField(help_text="Seconds until a report is accepted again.")


RATE_LIMITED = OpenApiResponse(
    response=RateLimitedOut,
    description="Too many reports from you or your address; nothing was stored.",
)


class _ReportsViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Reports read per viewer (`visible`; someone else's is a 404), listed by what they are
    `about` (`?project=` or `?system=`, a slug), and taken by a service (`submit`, which returns
    the response body); past a rate limit, 429 with `Retry-After` and nothing stored."""

    filter_backends: list = []
    about = "project"

    def visible(self) -> QuerySet:
        raise NotImplementedError

    def submit(self, request: Request) -> dict:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet:
        visible = self.visible()
        slug = self.request.query_params.get(self.about) if self.action == "list" else None
        return visible.filter(**{f"{self.about}__slug": slug}) if slug else visible

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            body = self.submit(request)
        except reports.RateLimited as exc:
            return Response(
                {"detail": exc.message, "code": "rate_limited", "retry_after": exc.retry_after},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(exc.retry_after)},
            )
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(
        summary="Problem reports you may see",
        description="IT staff: all; owners and maintainers: their projects'; others: their own.",
        parameters=[OpenApiParameter("project", str, description="Only this project's (slug).")],
    ),
    retrieve=extend_schema(
        summary="One problem report", responses={200: ReportOut, 404: NOT_FOUND}
    ),
    create=extend_schema(
        summary="Report a problem",
        request=ReportIn,
        responses={
            201: ReportCreatedOut,
            400: BAD_REQUEST,
            429: RATE_LIMITED,
        },
    ),
)
class ReportViewSet(_ReportsViewSet):
    serializer_class = ReportOut
    about = "project"

    def visible(self) -> QuerySet[ProblemReport]:
        return selectors.reports_visible_to(self.request.user)

    def submit(self, request: Request) -> dict:
        data = parse_input(ReportIn, request)
        outcome = reports.report_submit(
            actor=request.user,
            project=data["project"],
            description=data["description"],
            contact=data["contact"],
            address=client_address(request),
        )
        return ReportCreatedOut(
            {
                "report": outcome.report,
                "me_too": outcome.is_me_too,
                "incident": outcome.incident.pk if outcome.incident else None,
                "outage": outcome.outage.pk if outcome.outage else None,
                "me_too_count": outcome.me_too_count,
                "group": outcome.group.pk if outcome.group else None,
                "notified": outcome.notified,
                "paged": outcome.paged,
            }
        ).data


# --- owners' reports on IT systems ---------------------------------------------------------------


class SystemProblemIn(serializers.Serializer):
    system = serializers.SlugRelatedField(
        slug_field="slug", queryset=ITSystem.objects.all(), help_text="The IT system's slug."
    )
    # Your app that it fails for: one you own or maintain.
    project = _project_field()
    description = serializers.CharField(
        max_length=reports.MAX_DESCRIPTION,
        allow_blank=True,
        help_text="What your app sees (required, at most 2000 characters).",
    )


class SystemProblemReportOut(serializers.ModelSerializer):
    system = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    reporter = serializers.CharField(
        source="reporter.get_username", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = SystemProblemReport
        fields = (
            "id",
            "system",
            "project",
            "description",
            "reporter",
            "problem",
            "outage",
            "created_at",
        )
        read_only_fields = fields


class SystemProblemCreatedOut(serializers.Serializer):
    report = SystemProblemReportOut()
    me_too = serializers.BooleanField(
        help_text="True: it joined an open problem or outage of the system; nobody paged again."
    )
    problem = serializers.IntegerField(allow_null=True)
    outage = serializers.IntegerField(allow_null=True)
    count = serializers.IntegerField(help_text="Reports on what it joined, this one included.")
    paged = serializers.BooleanField(help_text="This report paged the system's on-call.")


class SystemOutageIn(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    severity = serializers.ChoiceField(choices=Outage.Severity.choices, default="sev2")


class SystemOutageOut(serializers.Serializer):
    outage = serializers.IntegerField()
    problem = serializers.IntegerField()


@extend_schema_view(
    list=extend_schema(
        summary="Owners' reports on IT systems that you may see",
        description="IT staff: all; others: their own and their apps'.",
        parameters=[OpenApiParameter("system", str, description="Only this system's (slug).")],
    ),
    retrieve=extend_schema(
        summary="One report on an IT system",
        responses={200: SystemProblemReportOut, 404: NOT_FOUND},
    ),
    create=extend_schema(
        summary="Tell IT that a system fails for your app (pages the system's on-call)",
        request=SystemProblemIn,
        responses={
            201: SystemProblemCreatedOut,
            400: BAD_REQUEST,
            403: FORBIDDEN,
            429: RATE_LIMITED,
        },
    ),
)
class SystemProblemReportViewSet(_ReportsViewSet):
    """`system-reports/`: an owner or maintainer of an app that depends on an IT system tells
    IT's on-call that it fails for the app (the page's service, grouping, paging and rate
    limits). `system-reports/{id}/outage/`: IT staff turn the report's problem into an outage."""

    serializer_class = SystemProblemReportOut
    lookup_value_regex = ID
    about = "system"

    def visible(self) -> QuerySet[SystemProblemReport]:
        return selectors.system_reports_visible_to(self.request.user)

    def submit(self, request: Request) -> dict:
        data = parse_input(SystemProblemIn, request)
        outcome = system_problems.system_problem_report(
            actor=request.user,
            system=data["system"],
            project=data["project"],
            description=data["description"],
            address=client_address(request),
        )
        return SystemProblemCreatedOut(
            {
                "report": outcome.report,
                "me_too": outcome.is_me_too,
                "problem": outcome.problem.pk if outcome.problem else None,
                "outage": outcome.outage.pk if outcome.outage else None,
                "count": outcome.count,
                "paged": outcome.paged,
            }
        ).data

    @extend_schema(
        request=SystemOutageIn,
        responses={201: SystemOutageOut, 400: BAD_REQUEST, 403: FORBIDDEN, 409: CONFLICT},
        summary="Turn the report's problem into an outage of the system (IT staff)",
    )
    @action(detail=True, methods=["post"])
    def outage(self, request: Request, pk: str) -> Response:
        report = self.get_object()
        # Refused before parsing: an empty body from an owner must not answer 400.
        system_problems.require_it_staff(request.user)
        if report.problem is None:
            raise Conflict("This report joined an outage already.", code="already_outage")
        outage = system_problems.system_problem_to_outage(
            actor=request.user, problem=report.problem, **parse_input(SystemOutageIn, request)
        )
        body = SystemOutageOut({"outage": outage.pk, "problem": report.problem_id})
        return Response(body.data, status=status.HTTP_201_CREATED)


# --- subscriptions -------------------------------------------------------------------------------


class SubscriptionIn(serializers.Serializer):
    project = _project_field()
    channel = serializers.ChoiceField(
        choices=Subscription.Channel.choices, default=Subscription.Channel.EMAIL
    )
    address = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        help_text="Webhook: an http(s) URL. Email: ignored; your account's address is used.",
    )
    maintenance_notices = serializers.BooleanField(
        default=True, help_text="Also hear of planned IT maintenance ahead of time."
    )


class SubscriptionOut(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Subscription
        fields = (
            "id",
            "project",
            "channel",
            "address",
            "maintenance_notices",
            "confirmed_at",
            "created_at",
        )
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(summary="Your subscriptions"),
    retrieve=extend_schema(
        summary="One of your subscriptions", responses={200: SubscriptionOut, 404: NOT_FOUND}
    ),
    create=extend_schema(
        summary="Follow a project's status (email to your own address, or a webhook)",
        request=SubscriptionIn,
        responses={201: SubscriptionOut, 400: BAD_REQUEST},
    ),
    destroy=extend_schema(
        summary="Unsubscribe", responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND}
    ),
)
class SubscriptionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = SubscriptionOut
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[Subscription]:
        return subscriptions_of(self.request.user)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = parse_input(SubscriptionIn, request)
        subscription = subscriptions.subscription_create(actor=request.user, **data)
        return Response(SubscriptionOut(subscription).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        subscriptions.subscription_cancel(actor=request.user, subscription=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
