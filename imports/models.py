from django.db import models


class CatalogEntity(models.Model):
    """Where a record imported from a Backstage namespace other than `default` came from, so a
    re-import finds it again and an export writes it back in its namespace. Records from the
    default namespace need no row: their slug (or username) is their Backstage name."""

    class Kind(models.TextChoices):
        USER = "User"
        GROUP = "Group"
        RESOURCE = "Resource"
        COMPONENT = "Component"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    namespace = models.CharField(max_length=63)
    name = models.CharField(max_length=150)
    # The record's slug (teams, IT systems, projects) or username (people), as written.
    steward_name = models.CharField(max_length=150)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "namespace", "name"], name="catalog_entity_identity"
            ),
            models.UniqueConstraint(fields=["kind", "steward_name"], name="catalog_entity_record"),
        ]

    def __str__(self) -> str:
        return f"{self.kind.lower()}:{self.namespace}/{self.name} → {self.steward_name}"
