"""Admin for IT changes. Transitions and notifications go through the services (the web pages
and the API); the admin is for looking, and for fixing a typo in a title."""

from django.contrib import admin

from .models import (
    Blackout,
    Change,
    ChangeReminder,
    ChangeResponse,
    HeldAlert,
    ImpactedProject,
    MaintenanceWindow,
    Release,
)


class ImpactedProjectInline(admin.TabularInline):
    model = ImpactedProject
    fields = ("project", "path", "all_hard", "depth")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ChangeReminderInline(admin.TabularInline):
    model = ChangeReminder
    fields = ("lead_minutes", "due_at", "sent_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ChangeResponseInline(admin.TabularInline):
    model = ChangeResponse
    fields = ("project", "person", "answer", "comment", "updated_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Change)
class ChangeAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "type",
        "risk",
        "state",
        "planned_start_at",
        "planned_end_at",
        "author",
    )
    list_filter = ("state", "type", "risk")
    search_fields = ("title", "description")
    date_hierarchy = "planned_start_at"
    filter_horizontal = ("systems",)
    list_select_related = ("author",)
    # State and its times move only through the services, which also notify the owners.
    readonly_fields = (
        "state",
        "revision",
        "scheduled_at",
        "started_at",
        "completed_at",
        "cancelled_at",
        "created_at",
        "updated_at",
    )
    inlines = [ImpactedProjectInline, ChangeReminderInline, ChangeResponseInline]


@admin.register(ChangeResponse)
class ChangeResponseAdmin(admin.ModelAdmin):
    list_display = ("change", "project", "person", "answer", "updated_at")
    list_filter = ("answer",)
    list_select_related = ("change", "project", "person")
    search_fields = ("comment", "change__title", "project__name", "person__display_name")
    readonly_fields = ("created_at", "updated_at")
    raw_id_fields = ("change", "project", "person")


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    """For looking, and for removing one recorded by mistake: who and how stay as recorded."""

    list_display = ("summary", "project", "system", "happened_at", "via", "recorded_by")
    list_filter = ("via",)
    list_select_related = ("project", "system", "recorded_by")
    search_fields = ("summary", "source", "project__name", "system__name")
    date_hierarchy = "happened_at"
    raw_id_fields = ("project", "system")
    readonly_fields = ("recorded_by", "via", "recorded_at")


class HeldAlertInline(admin.TabularInline):
    model = HeldAlert
    fields = ("title", "system", "source", "started_at", "events", "cleared_at", "released_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(admin.ModelAdmin):
    """Windows are written through the services (a change's follows it); here to look."""

    list_display = ("title", "change", "starts_at", "ends_at", "released_at")
    readonly_fields = ("change", "starts_at", "ends_at", "released_at", "created_by")
    filter_horizontal = ("systems",)
    inlines = [HeldAlertInline]


@admin.register(Blackout)
class BlackoutAdmin(admin.ModelAdmin):
    list_display = ("title", "system", "time_zone", "start_date", "start_time", "rrule")
    readonly_fields = ("first_start_at", "last_end_at", "created_by")

    def has_add_permission(self, request) -> bool:
        # The bounds are computed by the service (changes.windows.blackout_save): use the API.
        return False
