"""The admin's way to mark people as left or back: actions on the people list, through the same
leaver services as SCIM, the LDAP sync and IT's page. The registry's person admin is extended
here (the registry may not import this app), and the provisioning links are shown read-only."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from registry.admin import PersonAdmin
from registry.models import Person

from . import services
from .models import LdapAccount, ScimGroup, ScimUser


def _each(request: HttpRequest, queryset: QuerySet[Person], *, leave: bool) -> None:
    done = 0
    for person in queryset.select_related("user"):
        try:
            if leave:
                services.person_deactivate(
                    actor=request.user, person=person, source=services.Source.ADMIN
                )
            else:
                services.person_reactivate(
                    actor=request.user, person=person, source=services.Source.ADMIN
                )
            done += 1
        except (PermissionDenied, ValidationError) as exc:
            messages.error(request, f"{person}: {' '.join(getattr(exc, 'messages', [str(exc)]))}")
    if done:
        what = "marked as left" if leave else "active again (nothing else given back)"
        messages.success(request, f"{done} {'person' if done == 1 else 'people'} {what}.")


@admin.action(description="Mark as left (deactivate; orphans what only they owned)")
def mark_as_left(modeladmin, request: HttpRequest, queryset: QuerySet[Person]) -> None:
    _each(request, queryset, leave=True)


@admin.action(description="Mark as back (reactivate)")
def mark_as_back(modeladmin, request: HttpRequest, queryset: QuerySet[Person]) -> None:
    _each(request, queryset, leave=False)


class PersonWithLeaversAdmin(PersonAdmin):
    list_display = (*PersonAdmin.list_display, "deactivated_at")
    list_filter = (("deactivated_at", admin.EmptyFieldListFilter),)
    actions = [mark_as_left, mark_as_back]


admin.site.unregister(Person)
admin.site.register(Person, PersonWithLeaversAdmin)


@admin.register(ScimUser)
class ScimUserAdmin(admin.ModelAdmin):
    list_display = ("person", "external_id", "linked_at")
    search_fields = ("person__display_name", "external_id")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ScimGroup)
class ScimGroupAdmin(ScimUserAdmin):
    list_display = ("team", "external_id", "linked_at")
    search_fields = ("team__name", "external_id")


@admin.register(LdapAccount)
class LdapAccountAdmin(ScimUserAdmin):
    list_display = ("person", "dn", "synced_at")
    search_fields = ("person__display_name", "dn")
