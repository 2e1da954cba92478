from django.apps import AppConfig


def _give_the_account_a_person(sender, user, **kwargs) -> None:
    """Every account is someone: one signing in for the first time gets its person."""
    from .services import person_for_account

    person_for_account(user)


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Registry"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        import steward.lookups  # noqa: F401 — registers `field__any` for every app

        user_logged_in.connect(
            _give_the_account_a_person, dispatch_uid="registry.person_for_account"
        )
