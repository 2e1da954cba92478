from django.contrib import admin

from .models import ActionItem, Review


class ActionItemInline(admin.TabularInline):
    model = ActionItem
    extra = 0
    raw_id_fields = ("owner", "project")


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ("title", "project", "outage", "incident", "created_at")
    raw_id_fields = ("outage", "incident", "project", "created_by")
    inlines = [ActionItemInline]
