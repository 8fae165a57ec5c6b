"""Response (and small request) shapes of the environments API that no model serializer
gives: the spec's fields, a version registration, a page of a build's log."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from config.responses import STRING_MAP, documented_json
from environments.models import EnvironmentBuild


class EnvironmentSpecSerializer(serializers.Serializer[Any]):
    """A spec as environments.spec.normalize stores it: every key present."""

    python_version = serializers.CharField()
    pip_requirements = serializers.ListField(child=serializers.CharField())
    conda_specification = serializers.CharField(allow_blank=True)
    docker_base_image = serializers.CharField(allow_blank=True)
    dockerfile = serializers.CharField(allow_blank=True)
    environment_variables = documented_json(
        STRING_MAP, help_text="Secret values read back as *** (a URL's password only); send *** to keep one."
    )
    secret_variables = serializers.ListField(
        child=serializers.CharField(), help_text="Names of the variables whose values are write-only."
    )
    package_indexes = serializers.ListField(
        child=serializers.CharField(),
        help_text="Allowed package indexes (/api/package-indexes/) searched besides the host's, like "
        "--extra-index-url; such lines in pip_requirements become these names.",
    )
    default_index = serializers.CharField(
        allow_blank=True, help_text="An allowed package index that replaces the host's index-url, like --index-url."
    )
    user_managed_dependencies = serializers.BooleanField(
        required=False,
        help_text="Run in the worker's base interpreter, nothing installed (Azure's python.user_managed_dependencies).",
    )


class CondaPackageSerializer(serializers.Serializer[Any]):
    conda = serializers.CharField(help_text="The dependency as the conda specification gives it.")
    pip = serializers.CharField(allow_blank=True, help_text="The PyPI requirement it is installed as ('' if skipped).")
    notes = serializers.ListField(child=serializers.CharField(), help_text="What the translation changed, and why.")


class CondaInfoSerializer(serializers.Serializer[Any]):
    """How a version's conda specification is built (environments.conda)."""

    channels = serializers.ListField(child=serializers.CharField(), help_text="Recorded; packages come from PyPI.")
    python = serializers.CharField(allow_null=True, help_text="The python=X.Y the specification pins.")
    packages = CondaPackageSerializer(many=True, help_text="Conda packages and their PyPI requirements.")
    skipped = CondaPackageSerializer(many=True, help_text="Runtime libraries that wheels bundle: not installed.")
    pip = serializers.ListField(child=serializers.CharField(), help_text="The '- pip:' section.")


class EnvironmentVersionCreateSerializer(serializers.Serializer[Any]):
    spec = serializers.JSONField(help_text="The new version's spec (keys as in EnvironmentSpec).")
    description = serializers.CharField(required=False, allow_blank=True)


class BuildLogLineSerializer(serializers.Serializer[Any]):
    seq = serializers.IntegerField()
    text = serializers.CharField()
    at = serializers.DateTimeField()


class BuildLogPageSerializer(serializers.Serializer[Any]):
    build = serializers.IntegerField()
    status = serializers.ChoiceField(choices=EnvironmentBuild.Status.choices)
    lines = BuildLogLineSerializer(many=True)
