from django.contrib import admin

from .models import CatalogEntity


@admin.register(CatalogEntity)
class CatalogEntityAdmin(admin.ModelAdmin):
    """Records imported from Backstage namespaces other than default, and where from."""

    list_display = ("kind", "namespace", "name", "steward_name")
    list_filter = ("kind", "namespace")
    search_fields = ("name", "steward_name")
