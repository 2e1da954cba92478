"""The Django admin for on-call, with the same per-object rights and audit as the app."""

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest

from registry.admin import AuditedAdmin, TimeZonePicker

from .cache import oncall_rules_changed
from .models import (
    CalendarFeed,
    EscalationLevel,
    EscalationPolicy,
    Override,
    Rotation,
    RotationLayer,
    RotationMember,
)
from .services import (
    LAYER_FIELDS,
    can_edit_policy_of,
    can_edit_rotation,
    layer_clean,
    override_clean,
)

# The same checks as the on-call services (`oncall.services`), so the admin cannot save
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

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Checked on the row as saved too, so that nobody adds (or moves) one to an owner whose
        # rotations they may not write, such as an IT system's.
        if not can_edit_rotation(request.user, self._rotation(obj)):
            raise PermissionDenied("You may not write this rotation.")
        oncall_rules_changed()  # the kept rules of `oncall.cache` (inlines included)
        super().save_model(request, obj, form, change)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        oncall_rules_changed()
        super().delete_model(request, obj)


class RotationLayerInline(TimeZonePicker, admin.TabularInline):
    model = RotationLayer
    extra = 0
    fields = ("order", "name", "time_zone", "start_date", "handoff_time", "length", "length_count")
    show_change_link = True


@admin.register(Rotation)
class RotationAdmin(RotationScopedAdmin):
    list_display = ("name", "project", "team", "system")
    search_fields = ("name", "project__name", "team__name", "system__name")
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
class RotationLayerAdmin(TimeZonePicker, RotationScopedAdmin):
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
    list_select_related = ("project", "system")
    autocomplete_fields = ("project",)
    inlines = [EscalationLevelInline]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and not can_edit_policy_of(request.user, obj.owner):
            return False
        return super().has_change_permission(request, obj)

    has_delete_permission = has_change_permission

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # The constraint says exactly one owner; the rights are checked on the one given.
        if obj.owner is not None and not can_edit_policy_of(request.user, obj.owner):
            raise PermissionDenied("You may not write this escalation policy.")
        super().save_model(request, obj, form, change)


@admin.register(CalendarFeed)
class CalendarFeedAdmin(admin.ModelAdmin):
    """Feeds are created by their owners in the app; here they can only be seen and revoked."""

    list_display = ("__str__", "created_at", "revoked_at")
    list_select_related = ("person", "rotation")
    readonly_fields = ("person", "rotation", "created_by", "created_at")
    fields = ("person", "rotation", "created_by", "created_at", "revoked_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
