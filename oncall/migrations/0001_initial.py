"""The on-call models, moved here from `registry` with their tables (`registry_*`): this only
tells Django's state where they live now, renames their content types (so permissions and admin
history keep pointing at them) and the audit trail's labels of them. No table is created or
changed."""

import django.db.models.deletion
from django.db import migrations, models

import oncall.models
import registry.validators

MOVED = [
    "rotation",
    "rotationlayer",
    "rotationmember",
    "override",
    "escalationpolicy",
    "escalationlevel",
    "calendarfeed",
]


def _move_content_types(apps, schema_editor, *, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    taken = set(
        ContentType.objects.using(db)
        .filter(app_label=new, model__in=MOVED)
        .values_list("model", flat=True)
    )
    ContentType.objects.using(db).filter(app_label=old, model__in=MOVED).exclude(
        model__in=taken
    ).update(app_label=new)


def _move_audit_labels(apps, schema_editor, *, old: str, new: str) -> None:
    """The audit trail names an object by its model's label (`registry.rotation`): carry the
    entries written before the move over to the new label, so an object's history stays one."""
    AuditEntry = apps.get_model("registry", "AuditEntry")
    db = schema_editor.connection.alias
    for model in MOVED:
        AuditEntry.objects.using(db).filter(object_type=f"{old}.{model}").update(
            object_type=f"{new}.{model}"
        )


def to_oncall(apps, schema_editor) -> None:
    _move_content_types(apps, schema_editor, old="registry", new="oncall")
    _move_audit_labels(apps, schema_editor, old="registry", new="oncall")


def to_registry(apps, schema_editor) -> None:
    _move_content_types(apps, schema_editor, old="oncall", new="registry")
    _move_audit_labels(apps, schema_editor, old="oncall", new="registry")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("registry", "0002_oncall"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='EscalationPolicy',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('repeat_count', models.PositiveSmallIntegerField(default=2)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('project', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='escalation_policy', to='registry.project')),
                    ],
                    options={
                        'verbose_name_plural': 'escalation policies',
                        'db_table': 'registry_escalationpolicy',
                    },
                ),
                migrations.CreateModel(
                    name='Rotation',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=200)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('project', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='rotations', to='registry.project')),
                        ('team', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='rotations', to='registry.team')),
                    ],
                    options={
                        'db_table': 'registry_rotation',
                        'ordering': ['name', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='Override',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('start_at', models.DateTimeField()),
                        ('end_at', models.DateTimeField()),
                        ('reason', models.CharField(blank=True, max_length=200)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('covered', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='overrides_given', to='registry.person')),
                        ('person', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='overrides_taken', to='registry.person')),
                        ('rotation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='overrides', to='oncall.rotation')),
                    ],
                    options={
                        'db_table': 'registry_override',
                        'ordering': ['rotation', 'start_at', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='EscalationLevel',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('order', models.PositiveSmallIntegerField(default=0)),
                        ('target', models.CharField(choices=[('rotation', "A rotation's on-call"), ('person', 'A person'), ('team', 'A team'), ('it_contacts', "The affected IT systems' contacts"), ('owners', "The project's owners and maintainers"), ('backups', "The project's backups")], max_length=16)),
                        ('delay_minutes', models.PositiveIntegerField(default=10, help_text='Minutes before moving on to the next level.')),
                        ('person', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='registry.person')),
                        ('team', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='registry.team')),
                        ('policy', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='levels', to='oncall.escalationpolicy')),
                        ('rotation', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='oncall.rotation')),
                    ],
                    options={
                        'db_table': 'registry_escalationlevel',
                        'ordering': ['policy', 'order', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='CalendarFeed',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('token', models.CharField(default=oncall.models.new_feed_token, editable=False, max_length=64, unique=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('revoked_at', models.DateTimeField(blank=True, null=True)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='registry.person')),
                        ('person', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='calendar_feeds', to='registry.person')),
                        ('rotation', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='calendar_feeds', to='oncall.rotation')),
                    ],
                    options={
                        'db_table': 'registry_calendarfeed',
                    },
                ),
                migrations.CreateModel(
                    name='RotationLayer',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('order', models.PositiveSmallIntegerField(default=0)),
                        ('name', models.CharField(blank=True, max_length=200)),
                        ('time_zone', models.CharField(default='UTC', max_length=64, validators=[registry.validators.validate_time_zone])),
                        ('start_date', models.DateField(help_text='Local date of the first handoff.')),
                        ('handoff_time', models.TimeField(help_text='Local time of each handoff.')),
                        ('length', models.CharField(choices=[('daily', 'Daily'), ('weekly', 'Weekly'), ('hours', 'Every N hours'), ('days', 'Every N days')], default='weekly', max_length=8)),
                        ('length_count', models.PositiveSmallIntegerField(default=1, help_text='N for every N hours or days (and N weeks for weekly).')),
                        ('restrict_start', models.TimeField(blank=True, null=True)),
                        ('restrict_end', models.TimeField(blank=True, null=True)),
                        ('restrict_days', models.JSONField(blank=True, default=list, help_text='Weekdays such as ["mon", "tue"]; empty: every day.')),
                        ('rotation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='layers', to='oncall.rotation')),
                    ],
                    options={
                        'db_table': 'registry_rotationlayer',
                        'ordering': ['rotation', 'order', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='RotationMember',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('order', models.PositiveSmallIntegerField(default=0)),
                        ('layer', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to='oncall.rotationlayer')),
                        ('person', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='rotation_memberships', to='registry.person')),
                    ],
                    options={
                        'db_table': 'registry_rotationmember',
                        'ordering': ['layer', 'order', 'id'],
                    },
                ),
                migrations.AddField(
                    model_name='rotationlayer',
                    name='members',
                    field=models.ManyToManyField(related_name='+', through='oncall.RotationMember', to='registry.person'),
                ),
                migrations.AddConstraint(
                    model_name='rotation',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('project__isnull', False), ('team__isnull', True)), models.Q(('project__isnull', True), ('team__isnull', False)), _connector='OR'), name='rotation_exactly_one_owner'),
                ),
                migrations.AddIndex(
                    model_name='override',
                    index=models.Index(fields=['rotation', 'end_at'], name='override_rotation_end_idx'),
                ),
                migrations.AddConstraint(
                    model_name='override',
                    constraint=models.CheckConstraint(condition=models.Q(('end_at__gt', models.F('start_at'))), name='override_ends_after_start'),
                ),
                migrations.AddConstraint(
                    model_name='escalationlevel',
                    constraint=models.UniqueConstraint(fields=('policy', 'order'), name='escalation_level_order'),
                ),
                migrations.AddConstraint(
                    model_name='escalationlevel',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('target', 'rotation'), ('rotation__isnull', False)), models.Q(models.Q(('target', 'rotation'), _negated=True), ('rotation__isnull', True)), _connector='OR'), name='escalation_level_rotation_target'),
                ),
                migrations.AddConstraint(
                    model_name='escalationlevel',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('target', 'person'), ('person__isnull', False)), models.Q(models.Q(('target', 'person'), _negated=True), ('person__isnull', True)), _connector='OR'), name='escalation_level_person_target'),
                ),
                migrations.AddConstraint(
                    model_name='escalationlevel',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('target', 'team'), ('team__isnull', False)), models.Q(models.Q(('target', 'team'), _negated=True), ('team__isnull', True)), _connector='OR'), name='escalation_level_team_target'),
                ),
                migrations.AddConstraint(
                    model_name='calendarfeed',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('person__isnull', False), ('rotation__isnull', True)), models.Q(('person__isnull', True), ('rotation__isnull', False)), _connector='OR'), name='calendar_feed_person_or_rotation'),
                ),
                migrations.AddConstraint(
                    model_name='rotationmember',
                    constraint=models.UniqueConstraint(fields=('layer', 'order'), name='rotation_member_order'),
                ),
                migrations.AddConstraint(
                    model_name='rotationlayer',
                    constraint=models.UniqueConstraint(fields=('rotation', 'order'), name='rotation_layer_order'),
                ),
                migrations.AddConstraint(
                    model_name='rotationlayer',
                    constraint=models.CheckConstraint(condition=models.Q(('length_count__gte', 1)), name='rotation_layer_length_positive'),
                ),
                migrations.AddConstraint(
                    model_name='rotationlayer',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('restrict_start__isnull', True), ('restrict_end__isnull', True)), models.Q(('restrict_start__isnull', False), ('restrict_end__isnull', False), models.Q(('restrict_start', models.F('restrict_end')), _negated=True)), _connector='OR'), name='rotation_layer_window_not_empty'),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(to_oncall, to_registry),
    ]
