from typing import Any

from django.db import migrations, models


def move_secrets_out_of_specs(apps: Any, schema_editor: Any) -> None:
    """Versions stored before secrets existed hold every value in their spec: move the
    values that are secret by today's rules out of it (versions stay otherwise as
    they were; the content hash never covered variables)."""
    from environments.secrets import split_variables

    versions = apps.get_model("environments", "EnvironmentVersion")
    for version in versions.objects.all().iterator():
        spec = dict(version.spec)
        split = split_variables(spec.get("environment_variables", {}), set())
        spec["environment_variables"] = split.public
        spec["secret_variables"] = split.secret_names
        versions.objects.filter(pk=version.pk).update(spec=spec, secret_values=split.secret_values)


class Migration(migrations.Migration):
    dependencies = [
        ("environments", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="environmentversion",
            name="secret_values",
            field=models.JSONField(blank=True, default=dict, editable=False),
        ),
        migrations.RunPython(move_secrets_out_of_specs, migrations.RunPython.noop),
    ]
