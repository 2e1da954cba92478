"""A serving process's lifetime objects are frozen out of the cyclic collector's way once, after
its first request or task (`steward.memory.freeze_once_after`)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from celery.utils.dispatch import Signal as CelerySignal
from django.dispatch import Signal as DjangoSignal

from steward import memory

ROOT = Path(__file__).resolve().parents[2]


class RecordingGc:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def collect(self) -> int:
        self.calls.append("collect")
        return 0

    def freeze(self) -> None:
        self.calls.append("freeze")


@pytest.mark.parametrize("signal_class", [DjangoSignal, CelerySignal])
def test_the_first_signal_collects_then_freezes_and_later_ones_do_nothing(
    signal_class, monkeypatch
):
    gc = RecordingGc()
    monkeypatch.setattr(memory, "gc", gc)
    signal = signal_class()
    memory.freeze_once_after(signal)
    assert gc.calls == []
    signal.send(sender=None)
    assert gc.calls == ["collect", "freeze"]  # only what survives a collection is frozen
    signal.send(sender=None)
    signal.send(sender=None)
    assert gc.calls == ["collect", "freeze"]


def test_hooking_twice_still_freezes_once(monkeypatch):
    gc = RecordingGc()
    monkeypatch.setattr(memory, "gc", gc)
    signal = DjangoSignal()
    memory.freeze_once_after(signal)
    memory.freeze_once_after(signal)  # a module imported again
    signal.send(sender=None)
    assert gc.calls == ["collect", "freeze"]


def _fresh_process(code: str) -> str:
    """Run `code` in a new interpreter (the test settings) and return what it printed."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "steward.settings.test"}
    done = subprocess.run(  # nosec B603: our own interpreter and code
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_web_entry_point_freezes_after_its_first_request():
    printed = _fresh_process(
        """
        import gc
        import steward.wsgi
        from django.core.signals import request_finished
        print(gc.get_freeze_count())
        request_finished.send(sender=None)
        print(gc.get_freeze_count())
        """
    )
    before, after = (int(n) for n in printed)
    assert before == 0
    assert after > 50_000  # Django, the apps and their URL patterns at least


def test_a_worker_freezes_after_its_first_task_and_eager_tasks_never_do():
    printed = _fresh_process(
        """
        import gc
        import django
        django.setup()
        from celery.signals import task_postrun, worker_init
        from steward.celery import app
        task_postrun.send(sender=None)  # a task run eagerly, as in the tests: no worker
        print(gc.get_freeze_count())
        worker_init.send(sender=None)  # the worker, before its pool's processes are forked
        print(gc.get_freeze_count())
        loaded_by_a_task = [[i] for i in range(1000)]
        task_postrun.send(sender=None)
        print(gc.get_freeze_count())
        """
    )
    eager, before_fork, after_first_task = (int(n) for n in printed)
    assert eager == 0
    assert before_fork > 50_000
    assert after_first_task >= before_fork + 1000
