"""Admin for IT outages, project incidents and status subscriptions. Transitions and
notifications go through the services (the web pages and the API); the admin is for looking, and
for fixing a typo in a title or a public summary."""

from django import forms
from django.contrib import admin

from changes.admin import ImpactedProjectInline
from steward import net

from .models import Incident, IncidentUpdate, Outage, OutageUpdate, ServiceLevel, Subscription


class OutageUpdateInline(admin.TabularInline):
    model = OutageUpdate
    fields = ("created_at", "status", "message", "author")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Outage)
class OutageAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "public_summary",
        "severity",
        "status",
        "started_at",
        "resolved_at",
        "opened_by",
    )
    list_filter = ("status", "severity")
    search_fields = ("title", "public_summary", "description", "dedup_key")
    date_hierarchy = "started_at"
    filter_horizontal = ("systems",)
    list_select_related = ("opened_by",)
    readonly_fields = ("status", "resolved_at", "created_at", "updated_at")
    inlines = [ImpactedProjectInline, OutageUpdateInline]


# --- project incidents ---------------------------------------------------------------------------


class IncidentUpdateInline(admin.TabularInline):
    model = IncidentUpdate
    fields = ("created_at", "status", "message", "author")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    """Updates, resolution and cause go through `incidents.services.incidents` (they tell the
    subscribers and owners); here, look, or fix a typo in the title."""

    list_display = (
        "title",
        "public_summary",
        "project",
        "impact",
        "status",
        "started_at",
        "resolved_at",
    )
    list_filter = ("status", "impact")
    list_select_related = ("project",)
    search_fields = ("title", "public_summary", "project__name")
    date_hierarchy = "started_at"
    raw_id_fields = ("project", "cause_change", "cause_outage", "cause_release", "opened_by")
    readonly_fields = (
        "status",
        "acknowledged_at",
        "resolved_at",
        "opened_by",
        "created_at",
        "updated_at",
    )
    inlines = [IncidentUpdateInline]


class SubscriptionForm(forms.ModelForm):
    """A webhook subscription's URL passes the same check as on the status page."""

    def clean(self) -> dict:
        cleaned = super().clean()
        address = cleaned.get("address")
        if cleaned.get("channel") == Subscription.Channel.WEBHOOK and address:
            refusal = net.url_refusal(address)
            if refusal:
                self.add_error("address", refusal)
        return cleaned


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    """Admins see every project's subscribers (owners do not); unsubscribe by setting the date."""

    form = SubscriptionForm
    list_display = ("project", "channel", "address", "person", "confirmed_at", "unsubscribed_at")
    list_filter = ("channel",)
    list_select_related = ("project", "person")
    search_fields = ("address", "project__name", "person__display_name")
    raw_id_fields = ("project", "person")
    readonly_fields = ("created_at",)


@admin.register(ServiceLevel)
class ServiceLevelAdmin(admin.ModelAdmin):
    list_display = ("project", "ack_minutes", "resolve_minutes", "availability")
    raw_id_fields = ("project",)
