from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and teams"

    def ready(self) -> None:
        from accounts import schema, signals  # noqa: F401  (OpenAPI auth scheme, login audit)
