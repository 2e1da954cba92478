"""The on-call models now live in `oncall` (see oncall/migrations/0001_initial.py): forget them
here, in Django's state only. Their tables stay as they are."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("oncall", "0001_initial"),
        ("registry", "0002_oncall"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="escalationlevel",
                    name="person",
                ),
                migrations.RemoveField(
                    model_name="escalationlevel",
                    name="policy",
                ),
                migrations.RemoveField(
                    model_name="escalationlevel",
                    name="rotation",
                ),
                migrations.RemoveField(
                    model_name="escalationlevel",
                    name="team",
                ),
                migrations.RemoveField(
                    model_name="escalationpolicy",
                    name="project",
                ),
                migrations.RemoveField(
                    model_name="override",
                    name="covered",
                ),
                migrations.RemoveField(
                    model_name="override",
                    name="person",
                ),
                migrations.RemoveField(
                    model_name="override",
                    name="rotation",
                ),
                migrations.RemoveField(
                    model_name="rotation",
                    name="project",
                ),
                migrations.RemoveField(
                    model_name="rotation",
                    name="team",
                ),
                migrations.RemoveField(
                    model_name="rotationlayer",
                    name="rotation",
                ),
                migrations.RemoveField(
                    model_name="rotationlayer",
                    name="members",
                ),
                migrations.RemoveField(
                    model_name="rotationmember",
                    name="layer",
                ),
                migrations.RemoveField(
                    model_name="rotationmember",
                    name="person",
                ),
                migrations.DeleteModel(
                    name="CalendarFeed",
                ),
                migrations.DeleteModel(
                    name="EscalationLevel",
                ),
                migrations.DeleteModel(
                    name="EscalationPolicy",
                ),
                migrations.DeleteModel(
                    name="Override",
                ),
                migrations.DeleteModel(
                    name="Rotation",
                ),
                migrations.DeleteModel(
                    name="RotationLayer",
                ),
                migrations.DeleteModel(
                    name="RotationMember",
                ),
            ],
            database_operations=[],
        ),
    ]
