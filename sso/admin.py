from django.contrib import admin

from .models import Identity


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    """Who is linked to which identity at the provider. Deleting a row lets the next sign-in of
    that subject match a person by email again (to relink someone whose account was merged)."""

    list_display = ("user", "subject", "issuer", "locale", "last_signed_in_at")
    search_fields = ("user__username", "user__email", "subject")
    readonly_fields = ("user", "issuer", "subject", "locale", "first_signed_in_at")
    list_select_related = ("user",)
