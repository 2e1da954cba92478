from django.conf import settings
from django.db import models


class Identity(models.Model):
    """An account's identity at the company's OpenID provider (issuer + subject).

    The first sign-in finds the account by email (or the configured claim); from then on the
    provider's subject finds it, so a person whose email changes still signs in to the same
    person, and someone who is later given a matching email at the provider does not."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identities"
    )
    issuer = models.CharField(max_length=300)
    subject = models.CharField(max_length=255)
    locale = models.CharField(
        max_length=35, blank=True, help_text="The provider's `locale` claim (BCP 47)."
    )
    first_signed_in_at = models.DateTimeField(auto_now_add=True)
    last_signed_in_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "identities"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_subject"),
            models.UniqueConstraint(fields=["issuer", "user"], name="sso_identity_one_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
