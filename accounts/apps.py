from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and teams"

    def ready(self) -> None:
        # OpenAPI auth scheme, login audit, and the token cache's invalidation on revoke.
        from accounts import schema, signals, token_cache  # noqa: F401
