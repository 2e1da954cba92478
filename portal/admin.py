"""Admin for problem reports and report groups. Writes go through the services (the web pages
and the API); the admin is for looking."""

from django.contrib import admin

from .models import ProblemReport, ReportGroup


class ProblemReportInline(admin.TabularInline):
    model = ProblemReport
    fields = ("created_at", "reporter", "description", "contact")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(ReportGroup)
class ReportGroupAdmin(admin.ModelAdmin):
    """Notices, pages and closing go through `portal.services.reports`; read-only here."""

    list_display = (
        "project",
        "report_count",
        "opened_at",
        "last_report_at",
        "paged_at",
        "closed_at",
    )
    list_filter = ("closed_at",)
    list_select_related = ("project", "incident")
    search_fields = ("project__name",)
    readonly_fields = (
        "project",
        "opened_at",
        "last_report_at",
        "report_count",
        "notified_at",
        "paged_at",
        "closed_at",
        "incident",
    )
    inlines = [ProblemReportInline]


@admin.register(ProblemReport)
class ProblemReportAdmin(admin.ModelAdmin):
    list_display = ("project", "created_at", "reporter", "reporter_address", "incident", "outage")
    list_select_related = ("project", "reporter", "incident", "outage")
    search_fields = ("description", "contact", "project__name", "reporter__username")
    date_hierarchy = "created_at"
    raw_id_fields = ("project", "reporter", "incident", "outage", "group")
    readonly_fields = ("created_at", "reporter_address")
