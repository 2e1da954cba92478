"""Incident reviews ("post-mortems"): one per resolved IT outage or project incident, with its
written sections and the action items that came out of it."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from incidents.models import Incident, Outage
from registry.models import Person, Project

MAX_SECTION = 20000

# The written sections of a review, in the order the page and the export show them.
SECTIONS = (
    ("impact", "Impact"),
    ("what_happened", "What happened"),
    ("went_well", "What went well"),
    ("to_change", "What to change"),
)


class Review(models.Model):
    """The review of one outage (IT's) or one project incident (its owners'). `project` is the
    incident's project (NULL for an outage): who may edit it and where its action items show."""

    outage = models.OneToOneField(
        Outage, on_delete=models.CASCADE, null=True, blank=True, related_name="review"
    )
    incident = models.OneToOneField(
        Incident, on_delete=models.CASCADE, null=True, blank=True, related_name="review"
    )
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, null=True, blank=True, related_name="reviews"
    )
    title = models.CharField(max_length=200)
    impact = models.TextField(blank=True, validators=[MaxLengthValidator(MAX_SECTION)])
    what_happened = models.TextField(blank=True, validators=[MaxLengthValidator(MAX_SECTION)])
    went_well = models.TextField(blank=True, validators=[MaxLengthValidator(MAX_SECTION)])
    to_change = models.TextField(blank=True, validators=[MaxLengthValidator(MAX_SECTION)])
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(outage__isnull=False) & Q(incident__isnull=True) & Q(project=None))
                | (Q(outage__isnull=True) & Q(incident__isnull=False) & Q(project__isnull=False)),
                name="review_of_one_outage_or_incident",
            )
        ]

    def __str__(self) -> str:
        return f"Review: {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("reviews:detail", args=[self.pk])

    @property
    def subject(self) -> Outage | Incident:
        return self.outage if self.outage_id else self.incident


class ActionItem(models.Model):
    """Something to do after the review: who, by when (a day in the owner's own zone), and where
    it is tracked. The owner is reminded once, in their working hours, when the day has come."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="action_items")
    # Denormalised from the review, so a project page finds its open items in one indexed query.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, null=True, blank=True, related_name="action_items"
    )
    title = models.CharField(max_length=200)
    owner = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="action_items")
    due_on = models.DateField()
    tracker_url = models.URLField(max_length=500, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["due_on", "id"]
        indexes = [
            models.Index(
                fields=["due_on"],
                condition=Q(done_at__isnull=True, reminded_at__isnull=True),
                name="action_item_to_remind_idx",
            ),
            models.Index(
                fields=["project", "due_on"],
                condition=Q(done_at__isnull=True),
                name="action_item_open_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.done_at is None
