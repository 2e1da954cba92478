"""The Django admin for every registry model, with the same per-object rights as the app.

Staff who are not superusers may change only what `registry.permissions` allows them, and every
save or delete made here is audited like those made through the services.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

from . import permissions
from .models import (
    AuditEntry,
    CalendarFeed,
    ContactMethod,
    Dependency,
    EscalationLevel,
    EscalationPolicy,
    ITSystem,
    Override,
    Person,
    Project,
    ProjectAlias,
    ProjectRole,
    ProjectURL,
    Rotation,
    RotationLayer,
    RotationMember,
    Team,
)
from .oncall_services import LAYER_FIELDS, can_edit_rotation, layer_clean, override_clean
from .selectors import dependency_cycle
from .services import audit_record, audit_snapshot, cycle_message


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


class ContactMethodInline(admin.TabularInline):
    model = ContactMethod
    extra = 0


@admin.register(Person)
class PersonAdmin(AuditedAdmin):
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
    filter_horizontal = ("members",)

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


# --- on-call --------------------------------------------------------------------------------
# The same checks as the on-call services (`registry.oncall_services`), so the admin cannot save
# a layer without members, an empty restriction window, overlapping overrides or a policy that
# loops through its levels at once.


class RotationScopedAdmin(AuditedAdmin):
    """Rows that belong to a rotation: editable by whoever may edit that rotation."""

    def _rotation(self, obj: Any) -> Rotation:
        return obj if isinstance(obj, Rotation) else obj.rotation

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and not can_edit_rotation(request.user, self._rotation(obj)):
            return False
        return super().has_change_permission(request, obj)

    has_delete_permission = has_change_permission


class RotationLayerInline(admin.TabularInline):
    model = RotationLayer
    extra = 0
    fields = ("order", "name", "time_zone", "start_date", "handoff_time", "length", "length_count")
    show_change_link = True


@admin.register(Rotation)
class RotationAdmin(RotationScopedAdmin):
    list_display = ("name", "project", "team")
    search_fields = ("name", "project__name", "team__name")
    autocomplete_fields = ("project",)
    inlines = [RotationLayerInline]


class RotationMemberFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        kept = [
            form
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE", False)
        ]
        if not kept:
            raise forms.ValidationError("A layer needs at least one member.")


class RotationMemberInline(admin.TabularInline):
    model = RotationMember
    formset = RotationMemberFormSet
    extra = 0
    min_num = 1
    autocomplete_fields = ("person",)


class RotationLayerAdminForm(forms.ModelForm):
    class Meta:
        model = RotationLayer
        fields = ("rotation", *LAYER_FIELDS)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        layer = self.instance
        for name in ("restrict_start", "restrict_end", "restrict_days", "length", "length_count"):
            if name in cleaned:
                setattr(layer, name, cleaned[name])
        try:
            layer_clean(layer, None)
        except ValidationError as exc:
            raise forms.ValidationError(exc.message_dict) from exc
        cleaned["restrict_days"] = layer.restrict_days
        return cleaned


@admin.register(RotationLayer)
class RotationLayerAdmin(RotationScopedAdmin):
    form = RotationLayerAdminForm
    list_display = ("__str__", "rotation", "time_zone", "length", "handoff_time")
    list_select_related = ("rotation",)
    inlines = [RotationMemberInline]


class OverrideAdminForm(forms.ModelForm):
    class Meta:
        model = Override
        fields = ("rotation", "person", "covered", "start_at", "end_at", "reason")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        override = self.instance
        for name in ("rotation", "person", "covered", "start_at", "end_at"):
            if name in cleaned:
                setattr(override, name, cleaned[name])
        if override.rotation_id and override.person_id and override.start_at and override.end_at:
            try:
                override_clean(override)
            except ValidationError as exc:
                raise forms.ValidationError(exc.message_dict) from exc
        return cleaned


@admin.register(Override)
class OverrideAdmin(RotationScopedAdmin):
    form = OverrideAdminForm
    list_display = ("__str__", "rotation", "start_at", "end_at")
    list_select_related = ("rotation", "person", "covered")
    autocomplete_fields = ("person", "covered")


class EscalationLevelFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        kept = [
            form.cleaned_data
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE", False)
        ]
        if not kept:
            raise forms.ValidationError("A policy needs at least one level.")
        if sum(level.get("delay_minutes") or 0 for level in kept) == 0:
            raise forms.ValidationError(
                "Every delay is 0: the policy would loop through its levels at once. "
                "Give at least one level a delay."
            )


class EscalationLevelInline(admin.TabularInline):
    model = EscalationLevel
    formset = EscalationLevelFormSet
    extra = 0
    min_num = 1
    fields = ("order", "target", "rotation", "person", "team", "delay_minutes")
    autocomplete_fields = ("person",)


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(AuditedAdmin):
    list_display = ("__str__", "repeat_count", "updated_at")
    autocomplete_fields = ("project",)
    inlines = [EscalationLevelInline]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and not permissions.can_edit_project(request.user, obj.project):
            return False
        return super().has_change_permission(request, obj)

    has_delete_permission = has_change_permission


@admin.register(CalendarFeed)
class CalendarFeedAdmin(admin.ModelAdmin):
    """Feeds are created by their owners in the app; here they can only be seen and revoked."""

    list_display = ("__str__", "created_at", "revoked_at")
    list_select_related = ("person", "rotation")
    readonly_fields = ("person", "rotation", "created_by", "created_at")
    fields = ("person", "rotation", "created_by", "created_at", "revoked_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
