"""The Django admin for every registry model, with the same per-object rights as the app.

Staff who are not superusers may change only what `registry.permissions` allows them, and every
save or delete made here is audited like those made through the services.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest

from . import permissions
from .forms import TimeZoneField
from .models import (
    AuditEntry,
    ContactMethod,
    Dependency,
    ITSystem,
    Person,
    Project,
    ProjectAlias,
    ProjectRole,
    ProjectURL,
    Team,
)
from .reach import reach_affected, reach_affected_by_edges, reach_refresh
from .selectors import dependency_cycle
from .services import (
    audit_record,
    audit_snapshot,
    cycle_message,
    dependency_graph_lock,
    name_lookalikes_flag,
)
from .validators import validate_contact_address


class TimeZonePicker:
    """An admin whose `time_zone` column is the site's picker (`TimeZoneField`): IANA names,
    searchable, each with its offset."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "time_zone":
            return TimeZoneField(required=not db_field.blank, initial=db_field.default)
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class AuditedAdmin(admin.ModelAdmin):
    """Records an audit entry, with the values before and after, for each admin save and delete."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        with transaction.atomic():
            before = audit_snapshot(type(obj).objects.get(pk=obj.pk)) if change else None
            super().save_model(request, obj, form, change)
            self._pending_audit = (obj, before, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        obj, before, was_change = self._pending_audit
        audit_record(
            actor=request.user,
            action=AuditEntry.Action.UPDATE if was_change else AuditEntry.Action.CREATE,
            instance=obj,
            before=before,
            after=audit_snapshot(obj),
        )
        if isinstance(obj, Project | ITSystem | Team):
            previous_name = before.get("name") if before else None
            for warning in name_lookalikes_flag(request.user, obj, previous_name=previous_name):
                messages.warning(request, warning)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            audit_record(
                actor=request.user,
                action=AuditEntry.Action.DELETE,
                instance=obj,
                before=audit_snapshot(obj),
                after=None,
            )
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


class ContactMethodForm(forms.ModelForm):
    """The services' address check, here too: an admin cannot save a URL Steward refuses."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        kind, address = cleaned.get("kind"), cleaned.get("address")
        if kind and address:
            try:
                validate_contact_address(kind, address)
            except forms.ValidationError as exc:
                self.add_error("address", exc)
        return cleaned


class ContactMethodInline(admin.TabularInline):
    model = ContactMethod
    form = ContactMethodForm
    extra = 0


@admin.register(Person)
class PersonAdmin(TimeZonePicker, AuditedAdmin):
    list_display = ("display_name", "email", "time_zone")
    search_fields = ("display_name", "email", "user__username")
    inlines = [ContactMethodInline]

    def has_change_permission(self, request: HttpRequest, obj: Person | None = None) -> bool:
        if obj is not None and not permissions.can_edit_person(request.user, obj):
            return False
        return super().has_change_permission(request, obj)


@admin.register(Team)
class TeamAdmin(AuditedAdmin):
    list_display = ("name", "slug", "is_it")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("members", "leads")

    def has_change_permission(self, request: HttpRequest, obj: Team | None = None) -> bool:
        if obj is not None and not permissions.can_manage_teams(request.user):
            return False
        return super().has_change_permission(request, obj)


class ProjectAliasInline(admin.TabularInline):
    model = ProjectAlias
    extra = 0


class ProjectURLInline(admin.TabularInline):
    model = ProjectURL
    extra = 0


class ProjectRoleInline(admin.TabularInline):
    model = ProjectRole
    extra = 0
    autocomplete_fields = ("person",)


class ProjectDependencyInline(admin.TabularInline):
    model = Dependency
    fk_name = "source_project"
    fields = ("target_system", "criticality", "note")
    extra = 0


@admin.register(Project)
class ProjectAdmin(AuditedAdmin):
    list_display = ("name", "slug", "support_tier", "last_reviewed_on")
    list_filter = ("support_tier",)
    search_fields = ("name", "slug", "aliases__alias", "urls__url")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [ProjectRoleInline, ProjectAliasInline, ProjectURLInline, ProjectDependencyInline]

    def has_change_permission(self, request: HttpRequest, obj: Project | None = None) -> bool:
        if obj is not None and not permissions.can_edit_project(request.user, obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Project | None = None) -> bool:
        if obj is not None and not permissions.can_edit_project(request.user, obj):
            return False
        return super().has_delete_permission(request, obj)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The dependency inline writes the project's edges: its closure rows follow.
        with transaction.atomic():
            dependency_graph_lock()
            super().save_related(request, form, formsets, change)
            reach_refresh(reach_affected(projects=[form.instance.pk]))

    def delete_model(self, request: HttpRequest, obj: Project) -> None:
        with transaction.atomic():
            dependency_graph_lock()  # as project_delete
            super().delete_model(request, obj)


@admin.register(ITSystem)
class ITSystemAdmin(AuditedAdmin):
    list_display = ("name", "slug", "kind", "team")
    list_filter = ("kind",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("contacts",)

    def has_change_permission(self, request: HttpRequest, obj: ITSystem | None = None) -> bool:
        if obj is not None and not permissions.can_edit_system(request.user, obj):
            return False
        return super().has_change_permission(request, obj)

    has_delete_permission = has_change_permission

    def delete_model(self, request: HttpRequest, obj: ITSystem) -> None:
        # As system_delete: its edges go by cascade, the closure follows.
        with transaction.atomic():
            dependency_graph_lock()
            change = reach_affected(systems=[obj.pk])
            super().delete_model(request, obj)
            reach_refresh(change)


class DependencyAdminForm(forms.ModelForm):
    class Meta:
        model = Dependency
        fields = ("source_project", "source_system", "target_system", "criticality", "note")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        source, target = cleaned.get("source_system"), cleaned.get("target_system")
        if source is not None and target is not None:
            ignore = self.instance.pk
            cycle = dependency_cycle(source_system_id=source.pk, target_system_id=target.pk)
            if cycle and not (
                ignore
                and self.instance.source_system_id == source.pk
                and self.instance.target_system_id == target.pk
            ):
                raise forms.ValidationError({"target_system": cycle_message(cycle)})
        return cleaned


@admin.register(Dependency)
class DependencyAdmin(AuditedAdmin):
    """IT staff only; the same cycle check as `dependency_add`."""

    form = DependencyAdminForm
    list_display = ("__str__", "criticality", "created_at")
    list_filter = ("criticality",)
    autocomplete_fields = ("source_project", "source_system", "target_system")

    def has_change_permission(self, request: HttpRequest, obj: Dependency | None = None) -> bool:
        return permissions.is_it_staff(request.user) and super().has_change_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return permissions.is_it_staff(request.user) and super().has_add_permission(request)

    has_delete_permission = has_change_permission

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        with transaction.atomic():
            dependency_graph_lock()
            edges = [obj, Dependency.objects.get(pk=obj.pk)] if change else [obj]
            super().save_model(request, obj, form, change)
            reach_refresh(reach_affected_by_edges(edges))

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            dependency_graph_lock()
            change = reach_affected_by_edges([obj])
            super().delete_model(request, obj)
            reach_refresh(change)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("recorded_at", "actor", "action", "object_type", "object_repr")
    list_filter = ("action", "object_type")
    search_fields = ("object_repr",)
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False
