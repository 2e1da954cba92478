import os

from celery import Celery
from celery.signals import task_postrun, worker_init

from .memory import freeze_now, freeze_once_after

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "steward.settings.dev")

app = Celery("steward")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect(weak=False)
def _freeze_before_fork_and_after_first_task(**_kwargs) -> None:
    """A worker's lifetime objects, out of the cyclic collector's way: what the worker loaded
    before its pool's processes are forked (`steward.memory.freeze_now`, so the processes share
    those pages instead of copying them), then what each process's first task loaded
    (`steward.memory.freeze_once_after`). Sent when a worker starts, before the fork: never in a
    process that runs tasks eagerly (the tests)."""
    freeze_now()
    freeze_once_after(task_postrun)
