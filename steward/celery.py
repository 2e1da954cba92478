import os

from celery import Celery
from celery.signals import task_postrun, worker_init

from .memory import freeze_once_after

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "steward.settings.dev")

app = Celery("steward")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect(weak=False)
def _freeze_after_first_task(**_kwargs) -> None:
    """A worker's lifetime objects, out of the cyclic collector's way after each process's first
    task (`steward.memory.freeze_once_after`). Connected when a worker starts, before its pool's
    processes are forked: never in a process that runs tasks eagerly (the tests)."""
    freeze_once_after(task_postrun)
