import factory
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from registry.models import (
    ContactMethod,
    Dependency,
    ITSystem,
    Person,
    Project,
    ProjectRole,
    Team,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pw")


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Person

    user = factory.SubFactory(UserFactory)
    display_name = factory.LazyAttribute(lambda p: p.user.username.title())
    email = factory.LazyAttribute(lambda p: p.user.email)
    time_zone = "UTC"


def it_staff_user(**kwargs):
    user = PersonFactory(**kwargs).user
    group, _ = Group.objects.get_or_create(name=settings.STEWARD_IT_GROUP)
    user.groups.add(group)
    return user


class ContactMethodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactMethod

    person = factory.SubFactory(PersonFactory)
    kind = ContactMethod.Kind.EMAIL
    address = factory.LazyAttribute(lambda c: c.person.email)


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")


class ProjectRoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProjectRole

    project = factory.SubFactory(ProjectFactory)
    person = factory.SubFactory(PersonFactory)
    role = ProjectRole.Role.OWNER


class SystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ITSystem

    name = factory.Sequence(lambda n: f"System {n}")
    slug = factory.Sequence(lambda n: f"system-{n}")


class DependencyFactory(factory.django.DjangoModelFactory):
    """A raw edge, bypassing the cycle check and the audit trail: use `dependency_add` when
    those matter. The closure impact reads is kept, as every edge writer must."""

    class Meta:
        model = Dependency

    target_system = factory.SubFactory(SystemFactory)
    criticality = Dependency.Criticality.HARD

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from django.db import transaction

        from registry.reach import reach_affected_by_edges, reach_refresh
        from registry.services import dependency_graph_lock

        with transaction.atomic():
            dependency_graph_lock()
            edge = super()._create(model_class, *args, **kwargs)
            reach_refresh(reach_affected_by_edges([edge]))
        return edge


def _now():
    from django.utils import timezone

    return timezone.now()


class SubscriptionFactory(factory.django.DjangoModelFactory):
    """An active email subscription by default (confirmed, not unsubscribed)."""

    class Meta:
        model = "incidents.Subscription"

    project = factory.SubFactory(ProjectFactory)
    channel = "email"
    address = factory.Sequence(lambda n: f"subscriber{n}@example.org")
    confirmed_at = factory.LazyFunction(_now)


class IncidentFactory(factory.django.DjangoModelFactory):
    """An open incident (investigating) that began now."""

    class Meta:
        model = "incidents.Incident"

    project = factory.SubFactory(ProjectFactory)
    title = factory.Sequence(lambda n: f"Incident {n}")
    impact = "degraded"
    started_at = factory.LazyFunction(_now)
