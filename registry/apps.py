from django.apps import AppConfig


class RegistryConfig(AppConfig):
    """The model registry (Azure ML's ``Model``); its label is not "models" so that it
    never reads like Django's ``models`` modules."""

    name = "registry"
    verbose_name = "Model registry"

    def ready(self) -> None:
        from datasets import storage

        # Model files live in the dataset blob store (one copy of any content): the
        # collector must keep the blobs and trees that model versions use.
        storage.BLOB_USERS.append(_model_blobs)
        storage.TREE_USERS.append(_model_trees)


def _model_blobs(shas: list[str]) -> set[str]:
    from registry.models import ModelFile

    return set(ModelFile.objects.filter(sha256__in=shas).values_list("sha256", flat=True))


def _model_trees(contents: list[str] | None) -> set[str]:
    from registry.models import ModelVersion

    versions = (
        ModelVersion.objects.all() if contents is None else ModelVersion.objects.filter(content_sha256__in=contents)
    )
    return set(versions.values_list("content_sha256", flat=True))
