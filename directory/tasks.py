"""Thin Celery tasks of the directory."""

from celery import shared_task

from . import ldap


@shared_task(name="directory.ldap_sync", ignore_result=True)
def ldap_sync() -> dict:
    """The LDAP sync (on the beat schedule): safe to run twice, a no-op without LDAP."""
    result = ldap.ldap_sync()
    return {"updated": len(result.updated), "deactivated": len(result.deactivated)}
