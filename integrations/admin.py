"""Admin: inbound events are a read-only log; heartbeats are set up here by IT staff."""

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest

from registry.permissions import is_it_staff

from .models import Heartbeat, InboundEvent


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    list_display = ("received_at", "source", "system", "action", "outcome", "outage")
    list_filter = ("source", "outcome", "action")
    search_fields = ("dedup_key", "system__name", "system__slug")
    list_select_related = ("system", "outage")
    date_hierarchy = "received_at"
    readonly_fields = [f.name for f in InboundEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "system",
        "interval_minutes",
        "grace_minutes",
        "last_ping_at",
        "down_since",
    )
    list_filter = ("system",)
    search_fields = ("name", "system__name")
    list_select_related = ("system",)
    readonly_fields = ("key", "ping_url", "last_ping_at", "down_since", "outage", "created_at")
    fields = (
        "system",
        "name",
        "interval_minutes",
        "grace_minutes",
        "severity",
        "key",
        "ping_url",
        "last_ping_at",
        "down_since",
        "outage",
        "created_at",
    )

    @admin.display(description="Ping URL")
    def ping_url(self, obj: Heartbeat) -> str:
        return f"{settings.SITE_URL}{obj.get_ping_path()}" if obj.pk else "—"

    def _may_write(self, request: HttpRequest) -> bool:
        return is_it_staff(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._may_write(request) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._may_write(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._may_write(request) and super().has_delete_permission(request, obj)
