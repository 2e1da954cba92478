"""What the identity provider calls Steward's people and teams (SCIM's `externalId`), and which
people came from LDAP. A person or team without a row here is Steward's own (made in Steward);
provisioning links one when it names an account or team that already exists."""

from django.db import models

from registry.models import Person, Team


class ScimUser(models.Model):
    """A person provisioned (or linked) by SCIM: served at /scim/v2/Users/<person id>. SCIM's
    DELETE deactivates the person and removes this link; the person and their history stay."""

    person = models.OneToOneField(
        Person, on_delete=models.CASCADE, primary_key=True, related_name="scim"
    )
    external_id = models.CharField(max_length=255, blank=True)
    linked_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"SCIM user {self.person}"


class ScimGroup(models.Model):
    """A team provisioned (or linked) by SCIM: served at /scim/v2/Groups/<team id>."""

    team = models.OneToOneField(
        Team, on_delete=models.CASCADE, primary_key=True, related_name="scim"
    )
    external_id = models.CharField(max_length=255, blank=True)
    linked_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"SCIM group {self.team}"


class LdapAccount(models.Model):
    """A person whose account comes from the LDAP directory: the sync keeps their name and
    email, and deactivates them when the directory disables or drops them."""

    person = models.OneToOneField(
        Person, on_delete=models.CASCADE, primary_key=True, related_name="ldap"
    )
    dn = models.CharField(max_length=1000)
    synced_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.dn
