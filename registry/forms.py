"""HTML forms of the registry. They parse what a person typed; the services validate and write.

A service raises ``ValidationError`` with a dict naming fields; `add_service_error` puts each
message beside its field, or at the top of the form when the form has no such field.
"""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import slugify

from steward.times import offset_text, time_zone_names

from .models import ContactMethod, Dependency, ITSystem, Person, Project, ProjectRole, Team
from .selectors import looks_like_url
from .validators import WEEKDAYS, validate_time_zone, validate_working_hours

WEEKDAY_NAMES = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}


def add_service_error(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's error inline: on the named field when the form has it, else on top."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for name, errors in exc.error_dict.items():
        field = name if name in form.fields else None
        if name == NON_FIELD_ERRORS:
            field = None
        form.add_error(field, errors)


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class LinesField(forms.CharField):
    """A textarea holding one value per line."""

    widget = forms.Textarea(attrs={"rows": 3})

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def prepare_value(self, value: object) -> object:
        if isinstance(value, list | tuple):
            return "\n".join(str(v) for v in value)
        return value

    def to_python(self, value: object) -> list[str]:
        return lines(super().to_python(value) or "")


# --- projects -----------------------------------------------------------------------------------


class SlugFromNameMixin:
    """An empty slug is made from the name."""

    def clean(self) -> dict:
        cleaned = super().clean()
        if not cleaned.get("slug") and cleaned.get("name"):
            cleaned["slug"] = slugify(cleaned["name"])[:100]
            if not cleaned["slug"]:
                self.add_error("slug", "Choose a slug: the name has no letters or digits to use.")
        return cleaned


class ProjectForm(SlugFromNameMixin, forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(
        max_length=100,
        required=False,
        help_text="Used in the page address. Left empty, it is made from the name.",
    )
    support_tier = forms.ChoiceField(
        choices=Project.Tier.choices, initial=Project.Tier.SIDE_PROJECT
    )
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), required=False, max_length=5000
    )
    help_channel = forms.CharField(
        max_length=300,
        required=False,
        help_text="Where users ask for help: a chat channel (#people-app) or a URL.",
    )
    runbook_url = forms.URLField(max_length=500, required=False, assume_scheme="https")
    last_reviewed_on = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    team = forms.ModelChoiceField(queryset=Team.objects.order_by("name"), required=False)
    aliases = LinesField(help_text="Other names people use for it, one per line.")
    urls = LinesField(
        label="URLs",
        help_text="Addresses it is reached at, one per line (https://people.example.com/).",
    )

    @classmethod
    def initial_from_search(cls, query: str) -> dict:
        """A directory search that found nothing, as the start of a registration: a pasted
        address is the app's URL, anything else its name."""
        query = query.strip()[:200]
        if not query:
            return {}
        return {"urls": [query]} if looks_like_url(query) else {"name": query}

    @classmethod
    def initial_for(cls, project: Project) -> dict:
        return {
            "name": project.name,
            "slug": project.slug,
            "support_tier": project.support_tier,
            "description": project.description,
            "help_channel": project.help_channel,
            "runbook_url": project.runbook_url,
            "last_reviewed_on": project.last_reviewed_on,
            "team": project.team_id,
            "aliases": [a.alias for a in project.aliases.all()],
            "urls": [u.url for u in project.urls.all()],
        }


class PersonByUsernameField(forms.CharField):
    def to_python(self, value: object) -> Person | None:
        username = (super().to_python(value) or "").strip()
        if not username:
            return None
        person = (
            Person.objects.select_related("user")
            .filter(user__username__iexact=username)
            .order_by("pk")
            .first()
        )
        if person is None:
            raise ValidationError(f"Nobody has the username “{username}”.")
        return person


class RoleForm(forms.Form):
    person = PersonByUsernameField(
        label="Username", widget=forms.TextInput(attrs={"maxlength": 150})
    )
    role = forms.ChoiceField(choices=ProjectRole.Role.choices)
    order = forms.IntegerField(
        label="Order (lower first)", min_value=0, max_value=1000, required=False
    )


class ProjectDependencyForm(forms.Form):
    target_system = forms.ModelChoiceField(
        label="Depends on", queryset=ITSystem.objects.order_by("name"), to_field_name="slug"
    )
    criticality = forms.ChoiceField(choices=Dependency.Criticality.choices)
    note = forms.CharField(max_length=300, required=False)


class SystemDependencyForm(ProjectDependencyForm):
    def __init__(self, *args, source: ITSystem | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if source is not None:
            self.fields["target_system"].queryset = ITSystem.objects.exclude(pk=source.pk).order_by(
                "name"
            )


# --- IT systems ---------------------------------------------------------------------------------


class PeopleByUsernameField(LinesField):
    def to_python(self, value: object) -> list[Person]:
        usernames = super().to_python(value)
        if not usernames:
            return []
        people = {
            p.user.username.lower(): p
            for p in Person.objects.select_related("user").filter(user__username__in=usernames)
        }
        missing = [u for u in usernames if u.lower() not in people]
        if missing:
            raise ValidationError(
                "Nobody has the username %(names)s.", params={"names": ", ".join(missing)}
            )
        return [people[u.lower()] for u in usernames]


class SystemForm(SlugFromNameMixin, forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(
        max_length=100, required=False, help_text="Left empty, it is made from the name."
    )
    kind = forms.ChoiceField(choices=ITSystem.Kind.choices, initial=ITSystem.Kind.OTHER)
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), required=False, max_length=5000
    )
    team = forms.ModelChoiceField(
        queryset=Team.objects.order_by("-is_it", "name"), required=False, label="Owning team"
    )
    contacts = PeopleByUsernameField(
        label="IT contacts", help_text="Usernames of the people to reach about it, one per line."
    )

    @classmethod
    def initial_for(cls, system: ITSystem) -> dict:
        return {
            "name": system.name,
            "slug": system.slug,
            "kind": system.kind,
            "description": system.description,
            "team": system.team_id,
            "contacts": [c.user.username for c in system.contacts.all()],
        }


# --- the signed-in person -----------------------------------------------------------------------


def time_zone_choices() -> list[tuple[str, str]]:
    """The picker's options: every IANA name with its offset now, ``("Asia/Kolkata",
    "UTC+05:30")``, so that a browser's datalist can be searched by either."""
    now = timezone.now()
    return [(name, offset_text(name, now)) for name in sorted(time_zone_names())]


class TimeZoneInput(forms.TextInput):
    """A text box with its own <datalist> of IANA names and their offsets: the browser offers
    and filters them as one types, with or without JavaScript, and a name can still be pasted."""

    def render(self, name, value, attrs=None, renderer=None):
        list_id = f"{(attrs or {}).get('id') or name}-zones"
        attrs = {**(attrs or {}), "list": list_id, "autocomplete": "off"}
        options = format_html_join("", '<option value="{}">{}</option>', time_zone_choices())
        box = super().render(name, value, attrs, renderer)
        return format_html('{}<datalist id="{}">{}</datalist>', box, list_id, options)


class TimeZoneField(forms.CharField):
    """A time zone: an IANA name only (`validate_time_zone`), picked from a searchable list."""

    widget = TimeZoneInput
    default_validators = [validate_time_zone]

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("help_text", "An IANA name such as Europe/Paris or America/New_York.")
        super().__init__(**kwargs)


_INTERVAL = re.compile(r"^(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})$")


def parse_day_hours(day: str, text: str) -> list[list[str]]:
    """``"09:00-12:00, 13:00-17:00"`` → ``[["09:00", "12:00"], ["13:00", "17:00"]]``."""
    intervals = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        match = _INTERVAL.match(part)
        if not match:
            raise ValidationError(
                "%(day)s: “%(part)s” is not a time range such as 09:00-17:00.",
                params={"day": WEEKDAY_NAMES[day], "part": part},
            )
        h1, m1, h2, m2 = match.groups()
        intervals.append([f"{int(h1):02d}:{m1}", f"{int(h2):02d}:{m2}"])
    try:
        validate_working_hours({day: intervals})
    except ValidationError as exc:
        # The validator names the day by its key ("mon"); say it the way the form does.
        messages = [m.replace(f"{day}:", f"{WEEKDAY_NAMES[day]}:", 1) for m in exc.messages]
        raise ValidationError(messages) from None
    return intervals


def format_day_hours(intervals: list[list[str]]) -> str:
    return ", ".join(f"{start}-{end}" for start, end in intervals)


class ProfileForm(forms.Form):
    display_name = forms.CharField(max_length=200)
    email = forms.EmailField(required=False)
    time_zone = TimeZoneField()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for day in WEEKDAYS:
            self.fields[f"hours_{day}"] = forms.CharField(
                label=WEEKDAY_NAMES[day],
                required=False,
                max_length=200,
                widget=forms.TextInput(attrs={"placeholder": "not working"}),
            )

    @property
    def hour_fields(self) -> list[forms.BoundField]:
        return [self[f"hours_{day}"] for day in WEEKDAYS]

    @property
    def main_fields(self) -> list[forms.BoundField]:
        return [self["display_name"], self["email"], self["time_zone"]]

    def clean(self) -> dict:
        cleaned = super().clean()
        hours: dict[str, list[list[str]]] = {}
        for day in WEEKDAYS:
            name = f"hours_{day}"
            if name not in cleaned:
                continue
            try:
                intervals = parse_day_hours(day, cleaned[name])
            except ValidationError as exc:
                self.add_error(name, exc)
                continue
            if intervals:
                hours[day] = intervals
        cleaned["working_hours"] = hours
        return cleaned

    def service_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "display_name": data["display_name"],
            "email": data["email"],
            "time_zone": data["time_zone"],
            "working_hours": data["working_hours"],
        }

    @classmethod
    def initial_for(cls, person: Person) -> dict:
        initial = {
            "display_name": person.display_name,
            "email": person.email,
            "time_zone": person.time_zone,
        }
        for day in WEEKDAYS:
            initial[f"hours_{day}"] = format_day_hours(person.working_hours.get(day, []))
        return initial


class PersonAddForm(ProfileForm):
    """IT staff add someone who has not signed in yet: the profile, with the email required."""

    email = forms.EmailField(
        help_text="Their work email: they sign in with it through the company's sign-in."
    )


class ContactMethodForm(forms.Form):
    kind = forms.ChoiceField(choices=ContactMethod.Kind.choices)
    address = forms.CharField(
        max_length=500,
        help_text=(
            "An email, a phone number such as +14155550100, a Slack member ID such as U024BE7LH, "
            "an Apprise URL such as ntfys://ntfy.example.com/my-topic, or a webhook URL."
        ),
    )
    label = forms.CharField(max_length=100, required=False)
    for_pages = forms.BooleanField(required=False, initial=True, label="Urgent pages")
    for_notices = forms.BooleanField(required=False, initial=True, label="Notices")
