"""Every account is someone: accounts made before Steward gave each one a person on its first
use (an administrator made with `createsuperuser`, say) get their person now."""

from django.conf import settings
from django.db import migrations


def give_every_account_a_person(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Person = apps.get_model("registry", "Person")
    for user in User.objects.filter(person__isnull=True):
        name = f"{user.first_name} {user.last_name}".strip() or user.username
        Person.objects.create(user=user, display_name=name, email=user.email)


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0006_search_trigram_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(give_every_account_a_person, migrations.RunPython.noop),
    ]
