"""Registry hygiene keeps one record of its own: which review nudges went out, so that a stale
project's owners are asked once per review period, whatever the number of beat runs."""

from django.db import models

from registry.models import Project


class ReviewNudge(models.Model):
    """The owners of `project` were asked to confirm its entry for the review period that starts
    on `period_start` (the day the review fell due, plus whole review periods)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="review_nudges")
    period_start = models.DateField()
    sent_at = models.DateTimeField()
    owners_asked = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-sent_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "period_start"], name="review_nudge_once_per_period"
            )
        ]

    def __str__(self) -> str:
        return f"Review nudge for {self.project} ({self.period_start})"
