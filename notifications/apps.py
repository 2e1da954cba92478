from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from celery.signals import worker_process_init

        from .services.sending import sent_journal_adopt

        def adopt(**_kwargs) -> None:
            """A worker's new process may replace one that was killed with sends noted in this
            host's sent journal: they go to Redis before any of their rows is taken again."""
            sent_journal_adopt()

        worker_process_init.connect(adopt, weak=False, dispatch_uid="notifications.adopt")
