from django.apps import AppConfig


def _give_the_account_a_person(sender, user, **kwargs) -> None:
    """Every account is someone: one signing in for the first time gets its person."""
    from .services import person_for_account

    person_for_account(user)


def _install_catalog_version(sender, using, **kwargs) -> None:
    """After every migrate and test database flush: the triggers that count writes for the
    rendered fragments kept between requests (`steward.fragments`), on every table."""
    from steward import fragments

    fragments.install(using=using)


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Registry"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in
        from django.db.models.signals import post_migrate

        import steward.lookups  # noqa: F401 — registers `field__any` for every app

        user_logged_in.connect(
            _give_the_account_a_person, dispatch_uid="registry.person_for_account"
        )
        # Sent once per app after the whole migrate: this app's is enough, every table exists.
        post_migrate.connect(
            _install_catalog_version, sender=self, dispatch_uid="registry.catalog_version"
        )
