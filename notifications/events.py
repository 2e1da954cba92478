"""What the delivery pipeline knows of an event: the description its owner hands it.

The pipeline never recognises the apps above it by their models. An app that writes an event (a
change, an outage) describes it once per write with an `Event`: the row the notifications point
at, the IT systems it is about (whose IT contacts an escalation may page), and the JSON document
outgoing webhooks send for it. An event about no IT system and described to no webhook (a report
group, a project incident, a subscription's confirmation) is `Event(instance=...)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.db import models

from registry.models import ITSystem, Person


@dataclass(frozen=True, eq=False)
class Event:
    """An event as the pipeline sees it, built by the event's owner once per write.

    - `instance`: the model instance the notification and page rows point at (their generic key)
    - `systems`: the IT systems the event is about
    - `document`: what outgoing webhooks send about it (``{"outage": {...}}``), frozen when the
      event is written; empty for an event no webhook describes
    """

    instance: models.Model
    systems: tuple[ITSystem, ...] = ()
    document: Mapping[str, Any] = field(default_factory=dict)

    @property
    def pk(self) -> Any:
        return self.instance.pk

    @cached_property
    def it_contacts(self) -> list[Person]:
        """The contacts of the event's IT systems, asked once per event (an outage pages
        thousands of projects with the same description)."""
        if not self.systems:
            return []
        return list(Person.objects.filter(it_systems__in=self.systems).distinct().order_by("id"))
