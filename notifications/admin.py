"""Admin: read the pipeline; change it only through the services (ack, stop) and the sweeper."""

from django.contrib import admin

from . import services
from .models import DeliveryAttempt, Notification, Page


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["number", "started_at", "latency_ms", "outcome", "status_code", "error"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "recipient",
        "channel",
        "state",
        "attempts",
        "created_at",
        "sent_at",
    ]
    list_filter = ["state", "kind", "channel"]
    search_fields = ["idempotency_key", "subject", "address", "recipient__display_name"]
    list_select_related = ["recipient"]
    raw_id_fields = [
        "recipient",
        "project",
        "contact_method",
        "page",
        "digest",
        "fallback_of",
        "webhook_endpoint",
        "redelivery_of",
    ]
    readonly_fields = [f.name for f in Notification._meta.concrete_fields if f.name != "id"]
    inlines = [DeliveryAttemptInline]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Page)
class PageAdmin(admin.ModelAdmin):
    list_display = ["id", "subject", "project", "state", "level", "round", "next_escalation_at"]
    list_filter = ["state"]
    search_fields = ["subject", "project__name"]
    list_select_related = ["project"]
    raw_id_fields = ["project", "acknowledged_by"]
    readonly_fields = [f.name for f in Page._meta.concrete_fields if f.name != "id"]
    actions = ["acknowledge"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Acknowledge (stops escalation)")
    def acknowledge(self, request, queryset) -> None:
        person = getattr(request.user, "person", None)
        for page in queryset:
            services.page_ack(page=page, person=person, via="admin")
