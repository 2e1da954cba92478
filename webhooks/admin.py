"""Admin: outgoing webhook endpoints, read only."""

from django.contrib import admin

from .models import WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Read-only: endpoints are managed on their project's or system's webhooks page, through the
    services (permissions, validation, audit)."""

    list_display = ["id", "url", "project", "system", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "description", "project__name", "system__name"]
    list_select_related = ["project", "system"]
    exclude = ["secret"]
    readonly_fields = [
        f.name for f in WebhookEndpoint._meta.concrete_fields if f.name not in ("id", "secret")
    ]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
